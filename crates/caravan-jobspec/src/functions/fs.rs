//! Filesystem functions: abspath, basename, dirname, file, filebase64, fileexists,
//! fileset, pathexpand. Declared only when the caller allows filesystem access (the CLI
//! does, the HTTP parse endpoint does not); otherwise the `disabled` versions are.
//!
//! Relative paths resolve against the job file's directory. A plain function pointer
//! cannot capture it, so `declare_all` stores it in a thread-local ([`BASE_DIR`]).

use std::cell::RefCell;
use std::io::ErrorKind;
use std::path::{Component, Path, PathBuf};

use hcl::Value;
use hcl::eval::FuncArgs;

use super::encoding::base64_encode;
use super::{Args, FnResult};

thread_local! {
    /// The directory relative paths resolve against; `None` means the process's current
    /// directory. Set by `declare_all` for the contexts it builds on this thread.
    static BASE_DIR: RefCell<Option<PathBuf>> = const { RefCell::new(None) };
}

pub(super) fn set_base_dir(dir: Option<&Path>) {
    BASE_DIR.with(|b| *b.borrow_mut() = dir.map(Path::to_path_buf));
}

/// `path` made absolute against the base directory (or the current directory).
fn resolve(path: &str) -> PathBuf {
    let p = Path::new(path);
    if p.is_absolute() {
        return p.to_path_buf();
    }
    let base = BASE_DIR
        .with(|b| b.borrow().clone())
        .or_else(|| std::env::current_dir().ok())
        .unwrap_or_default();
    base.join(p)
}

/// Removes `.` and resolves `..` lexically, as Go's `filepath.Clean`.
fn clean(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for comp in path.components() {
        match comp {
            Component::CurDir => {}
            Component::ParentDir => {
                let last_is_normal =
                    matches!(out.components().next_back(), Some(Component::Normal(_)));
                if last_is_normal {
                    out.pop();
                } else if !out.has_root() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

fn text(p: &Path) -> Value {
    Value::String(p.to_string_lossy().into_owned())
}

pub(super) fn abspath(args: FuncArgs) -> FnResult {
    let a = Args::new("abspath", &args);
    Ok(text(&clean(&resolve(&a.string(0)?))))
}

/// The last element of a path, as Go's `filepath.Base`.
pub(super) fn basename(args: FuncArgs) -> FnResult {
    let a = Args::new("basename", &args);
    let path = a.string(0)?;
    if path.is_empty() {
        return Ok(Value::String(".".to_string()));
    }
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        return Ok(Value::String("/".to_string()));
    }
    let base = trimmed.rsplit('/').next().unwrap_or(trimmed);
    Ok(Value::String(base.to_string()))
}

/// Everything but the last element of a path, cleaned, as Go's `filepath.Dir`.
pub(super) fn dirname(args: FuncArgs) -> FnResult {
    let a = Args::new("dirname", &args);
    let path = a.string(0)?;
    let dir = match path.rfind('/') {
        Some(i) => &path[..=i],
        None => "",
    };
    Ok(text(&clean(Path::new(dir))))
}

/// Replaces a leading `~` with the home directory.
pub(super) fn pathexpand(args: FuncArgs) -> FnResult {
    let a = Args::new("pathexpand", &args);
    let path = a.string(0)?;
    let rest = match path.strip_prefix('~') {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => rest,
        _ => return Ok(Value::String(path)),
    };
    let home = std::env::var("HOME").map_err(|_| a.err("cannot find the home directory"))?;
    Ok(Value::String(format!("{home}{rest}")))
}

fn read(a: &Args<'_>, path: &str) -> Result<Vec<u8>, String> {
    let full = resolve(path);
    std::fs::read(&full).map_err(|e| match e.kind() {
        ErrorKind::NotFound => a.err(format_args!("no file exists at {}", full.display())),
        _ => a.err(format_args!("cannot read {}: {e}", full.display())),
    })
}

/// A file's contents, which must be UTF-8.
pub(super) fn file(args: FuncArgs) -> FnResult {
    let a = Args::new("file", &args);
    let path = a.string(0)?;
    let bytes = read(&a, &path)?;
    String::from_utf8(bytes).map(Value::String).map_err(|_| {
        a.err(format_args!(
            "contents of {path} are not valid UTF-8; use the filebase64 function to obtain the Base64 encoded contents"
        ))
    })
}

pub(super) fn filebase64(args: FuncArgs) -> FnResult {
    let a = Args::new("filebase64", &args);
    let path = a.string(0)?;
    Ok(Value::String(base64_encode(&read(&a, &path)?)))
}

/// Whether a regular file exists at the path; a directory there is an error.
pub(super) fn fileexists(args: FuncArgs) -> FnResult {
    let a = Args::new("fileexists", &args);
    let path = a.string(0)?;
    let full = resolve(&path);
    match std::fs::metadata(&full) {
        Ok(meta) if meta.is_file() => Ok(Value::Bool(true)),
        Ok(_) => Err(a.err(format_args!("{} is not a regular file", full.display()))),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(Value::Bool(false)),
        Err(e) => Err(a.err(format_args!("cannot stat {}: {e}", full.display()))),
    }
}

/// `fileset(dir, pattern)`: the regular files under `dir` whose path relative to it
/// matches the pattern, sorted. Patterns: `*` and `?` within a path element, `**` across
/// elements, `[abc]`/`[a-z]`/`[!a]` classes, `{a,b}` alternatives, `\` escapes.
pub(super) fn fileset(args: FuncArgs) -> FnResult {
    let a = Args::new("fileset", &args);
    let (dir, pattern) = (a.string(0)?, a.string(1)?);
    let root = resolve(&dir);
    let patterns: Vec<Vec<String>> = expand_braces(&pattern)
        .into_iter()
        .map(|p| {
            p.split('/')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        })
        .collect();
    let mut found = Vec::new();
    walk(&a, &root, &mut Vec::new(), &mut found)?;
    let mut out: Vec<String> = found
        .into_iter()
        .filter(|segs| patterns.iter().any(|p| match_path(p, segs)))
        .map(|segs| segs.join("/"))
        .collect();
    out.sort();
    Ok(Value::Array(out.into_iter().map(Value::String).collect()))
}

/// Collects every regular file under `dir` as path elements relative to the root.
fn walk(
    a: &Args<'_>,
    dir: &Path,
    prefix: &mut Vec<String>,
    out: &mut Vec<Vec<String>>,
) -> Result<(), String> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        // A missing directory has no files, as in Nomad.
        Err(e) if e.kind() == ErrorKind::NotFound && prefix.is_empty() => return Ok(()),
        Err(e) => return Err(a.err(format_args!("cannot read {}: {e}", dir.display()))),
    };
    for entry in entries {
        let entry = entry.map_err(|e| a.err(format_args!("cannot read {}: {e}", dir.display())))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        // Follow symlinks, as `metadata` does, but not into directories twice: the walk is
        // bounded by the tree since a symlinked directory is only listed, not entered.
        let meta = std::fs::metadata(&path)
            .map_err(|e| a.err(format_args!("cannot stat {}: {e}", path.display())))?;
        prefix.push(name);
        if meta.is_file() {
            out.push(prefix.clone());
        } else if meta.is_dir() && !entry.file_type().is_ok_and(|t| t.is_symlink()) {
            walk(a, &path, prefix, out)?;
        }
        prefix.pop();
    }
    Ok(())
}

/// Expands `{a,b}` alternatives (nested ones too) into separate patterns.
fn expand_braces(pattern: &str) -> Vec<String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut depth = 0;
    let mut open = None;
    let mut commas = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\\' => i += 1,
            '{' => {
                if depth == 0 {
                    open = Some(i);
                    commas.clear();
                }
                depth += 1;
            }
            ',' if depth == 1 => commas.push(i),
            '}' if depth > 0 => {
                depth -= 1;
                if depth == 0
                    && let Some(start) = open
                {
                    let head: String = chars[..start].iter().collect();
                    let tail: String = chars[i + 1..].iter().collect();
                    let mut bounds = vec![start];
                    bounds.extend(&commas);
                    bounds.push(i);
                    let mut out = Vec::new();
                    for w in bounds.windows(2) {
                        let alt: String = chars[w[0] + 1..w[1]].iter().collect();
                        out.extend(expand_braces(&format!("{head}{alt}{tail}")));
                    }
                    return out;
                }
            }
            _ => {}
        }
        i += 1;
    }
    vec![pattern.to_string()]
}

/// Matches path elements against pattern elements; `**` matches any number of elements.
fn match_path(pattern: &[String], path: &[String]) -> bool {
    match pattern.split_first() {
        None => path.is_empty(),
        Some((first, rest)) if first == "**" => {
            (0..=path.len()).any(|skip| match_path(rest, &path[skip..]))
        }
        Some((first, rest)) => match path.split_first() {
            Some((seg, path_rest)) => {
                let p: Vec<char> = first.chars().collect();
                let s: Vec<char> = seg.chars().collect();
                match_segment(&p, &s) && match_path(rest, path_rest)
            }
            None => false,
        },
    }
}

/// Glob matching within one path element.
fn match_segment(p: &[char], s: &[char]) -> bool {
    match p.first() {
        None => s.is_empty(),
        Some('*') => (0..=s.len()).any(|k| match_segment(&p[1..], &s[k..])),
        Some('?') => !s.is_empty() && match_segment(&p[1..], &s[1..]),
        Some('[') => {
            let Some((c, rest_s)) = s.split_first() else {
                return false;
            };
            match match_class(&p[1..], *c) {
                Some((true, rest_p)) => match_segment(rest_p, rest_s),
                Some((false, _)) => false,
                // An unclosed class is a literal '['.
                None => *c == '[' && match_segment(&p[1..], rest_s),
            }
        }
        Some('\\') if p.len() > 1 => s.first() == Some(&p[1]) && match_segment(&p[2..], &s[1..]),
        Some(lit) => s.first() == Some(lit) && match_segment(&p[1..], &s[1..]),
    }
}

/// Matches `c` against a class body (after `[`); returns whether it matched and the
/// pattern after the closing `]`, or `None` when the class is not closed.
fn match_class(p: &[char], c: char) -> Option<(bool, &[char])> {
    let (negated, mut i) = match p.first() {
        Some('!' | '^') => (true, 1),
        _ => (false, 0),
    };
    let mut matched = false;
    let mut first = true;
    while i < p.len() {
        if p[i] == ']' && !first {
            return Some((matched != negated, &p[i + 1..]));
        }
        first = false;
        let lo = p[i];
        if p.get(i + 1) == Some(&'-') && p.get(i + 2).is_some_and(|hi| *hi != ']') {
            let hi = p[i + 2];
            matched |= lo <= c && c <= hi;
            i += 3;
        } else {
            matched |= lo == c;
            i += 1;
        }
    }
    None
}

/// The same names when filesystem access is not allowed.
pub(super) mod disabled {
    use hcl::eval::FuncArgs;

    use super::FnResult;

    macro_rules! disabled {
        ($($name:ident),*) => {
            $(
                pub(in super::super) fn $name(_args: FuncArgs) -> FnResult {
                    Err(concat!(stringify!($name), ": filesystem functions disabled").to_string())
                }
            )*
        };
    }

    disabled!(
        abspath, basename, dirname, file, filebase64, fileexists, fileset, pathexpand
    );
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::super::test_support::{eval_with, s};
    use super::{expand_braces, match_path};
    use hcl::Value;

    /// A fresh directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> TempDir {
            let dir = std::env::temp_dir()
                .join(format!("caravan-jobspec-fs-{tag}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("create temp dir");
            TempDir(dir)
        }

        fn write(&self, rel: &str, contents: &[u8]) {
            let path = self.0.join(rel);
            std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
            std::fs::write(path, contents).expect("write");
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn fs_ok(src: &str, base: &Path) -> Value {
        eval_with(src, true, Some(base)).unwrap_or_else(|e| panic!("{src}: {e}"))
    }

    fn fs_err(src: &str, base: &Path) -> String {
        eval_with(src, true, Some(base)).expect_err(src)
    }

    fn list(items: &[&str]) -> Value {
        Value::Array(items.iter().map(|i| s(i)).collect())
    }

    #[test]
    fn file_reads_relative_to_the_base_dir() {
        let dir = TempDir::new("file");
        dir.write("conf/app.hcl", b"port = 8080\n");
        dir.write("bin.dat", &[0xff, 0x00]);
        assert_eq!(fs_ok(r#"file("conf/app.hcl")"#, &dir.0), s("port = 8080\n"));
        let abs = dir.0.join("conf/app.hcl");
        assert_eq!(
            fs_ok(
                &format!("file({:?})", abs.display().to_string()),
                Path::new("/nonexistent")
            ),
            s("port = 8080\n")
        );
        assert_eq!(fs_ok(r#"filebase64("bin.dat")"#, &dir.0), s("/wA="));
        assert!(
            fs_err(r#"file("bin.dat")"#, &dir.0)
                .contains("file: contents of bin.dat are not valid UTF-8")
        );
        assert!(fs_err(r#"file("missing.txt")"#, &dir.0).contains("file: no file exists at"));
    }

    #[test]
    fn fileexists_distinguishes_files_and_directories() {
        let dir = TempDir::new("exists");
        dir.write("a.txt", b"a");
        assert_eq!(fs_ok(r#"fileexists("a.txt")"#, &dir.0), Value::Bool(true));
        assert_eq!(fs_ok(r#"fileexists("b.txt")"#, &dir.0), Value::Bool(false));
        assert!(fs_err(r#"fileexists(".")"#, &dir.0).contains("is not a regular file"));
    }

    #[test]
    fn fileset_matches_globs() {
        let dir = TempDir::new("fileset");
        for f in [
            "files/hello.txt",
            "files/world.txt",
            "files/sub/deep.txt",
            "files/img.png",
            "top.txt",
        ] {
            dir.write(f, b"x");
        }
        assert_eq!(
            fs_ok(r#"fileset("files", "*.txt")"#, &dir.0),
            list(&["hello.txt", "world.txt"])
        );
        assert_eq!(
            fs_ok(r#"fileset("files", "**/*.txt")"#, &dir.0),
            list(&["hello.txt", "sub/deep.txt", "world.txt"])
        );
        assert_eq!(
            fs_ok(r#"fileset("files", "{hello,img}.*")"#, &dir.0),
            list(&["hello.txt", "img.png"])
        );
        assert_eq!(
            fs_ok(r#"fileset("files", "[!h]????.txt")"#, &dir.0),
            list(&["world.txt"])
        );
        assert_eq!(fs_ok(r#"fileset(".", "*")"#, &dir.0), list(&["top.txt"]));
        assert_eq!(fs_ok(r#"fileset("nope", "*")"#, &dir.0), list(&[]));
    }

    #[test]
    fn path_functions() {
        let base = Path::new("/srv/jobs");
        assert_eq!(
            fs_ok(r#"abspath("conf/../app.hcl")"#, base),
            s("/srv/jobs/app.hcl")
        );
        assert_eq!(fs_ok(r#"abspath("/etc/./hosts")"#, base), s("/etc/hosts"));
        assert_eq!(fs_ok(r#"basename("foo/bar/baz.txt")"#, base), s("baz.txt"));
        assert_eq!(fs_ok(r#"basename("foo/bar/")"#, base), s("bar"));
        assert_eq!(fs_ok(r#"basename("/")"#, base), s("/"));
        assert_eq!(fs_ok(r#"basename("")"#, base), s("."));
        assert_eq!(fs_ok(r#"dirname("foo/bar/baz.txt")"#, base), s("foo/bar"));
        assert_eq!(fs_ok(r#"dirname("baz.txt")"#, base), s("."));
        assert_eq!(fs_ok(r#"dirname("/baz.txt")"#, base), s("/"));
        assert_eq!(fs_ok(r#"pathexpand("/etc/hosts")"#, base), s("/etc/hosts"));
        assert_eq!(fs_ok(r#"pathexpand("~user/x")"#, base), s("~user/x"));
        if let Ok(home) = std::env::var("HOME") {
            assert_eq!(
                fs_ok(r#"pathexpand("~/.ssh")"#, base),
                s(&format!("{home}/.ssh"))
            );
        }
    }

    #[test]
    fn glob_helpers() {
        assert_eq!(expand_braces("a{b,c{d,e}}f"), vec!["abf", "acdf", "acef"]);
        let segs = |p: &str| p.split('/').map(str::to_string).collect::<Vec<_>>();
        assert!(match_path(&segs("**"), &segs("a/b/c")));
        assert!(match_path(&segs("a/**/c"), &segs("a/c")));
        assert!(!match_path(&segs("a/*"), &segs("a/b/c")));
        assert!(match_path(&segs("[!x]"), &segs("y")));
        assert!(match_path(&segs("\\*"), &segs("*")));
    }
}
