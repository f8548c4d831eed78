//! Nomad's `template` blocks: Go `text/template` syntax with consul-template's
//! functions, compiled once ([`Template`]) and rendered against the data a caller
//! supplies through [`Context`] ([`render`]). Each render returns the
//! [`Dependency`]s it used, so the caller knows what to watch, and the ones still
//! [`Missing`], so it knows whether the output may be written yet
//! (consul-template's rule: a template is written only once every dependency has
//! returned once). [`env_file::parse`] reads the output of `env = true` templates.
//!
//! This crate owns the template language and its function set. It does no I/O,
//! reads no clock and uses no runtime: fetching, watching, writing files and
//! `change_mode` belong to the client.
//!
//! The engine is [`gotmpl`], a port of Go's `text/template`.
//!
//! # Example
//!
//! ```
//! use caravan_template::testing::StaticContext;
//! use caravan_template::{ServiceInstance, Template, render};
//!
//! let t = Template::parse(
//!     "local/app.env",
//!     "{{ range nomadService \"redis\" }}REDIS={{ .Address }}:{{ .Port }}\n{{ end }}",
//! )?;
//!
//! // The first render finds the catalog data missing: don't write the file yet.
//! let first = render(&t, &StaticContext::new())?;
//! assert!(!first.is_complete());
//!
//! let redis = ServiceInstance {
//!     address: "10.0.0.5".into(),
//!     port: 6379,
//!     ..Default::default()
//! };
//! let ctx = StaticContext::new().nomad_service("redis", vec![redis]);
//! let done = render(&t, &ctx)?;
//! assert!(done.is_complete());
//! assert_eq!(done.text, "REDIS=10.0.0.5:6379\n");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Functions
//!
//! Go's builtins: `and`, `or`, `not`, `eq` (several operands: equal to any), `ne`,
//! `lt`, `le`, `gt`, `ge`, `len`, `index`, `slice`, `print`, `printf`, `println`,
//! `call`, `html`, `js`, `urlquery`; and the actions `if`/`else`, `range` (lists,
//! maps in key order, integers; `break`, `continue`), `with`, `define`, `template`,
//! `block`, variables, `{{-` `-}}` trimming.
//!
//! Catalog (they make the render depend on the data; until it arrives they return
//! an empty list and the render is incomplete):
//!
//! | function | returns |
//! |---|---|
//! | `nomadService "[tag.]name[@region]"` | the instances, sorted by ID: `.ID .Name .Node` (node id) `.Address .Port .Datacenter .Tags` (sorted) `.JobID .AllocID`, and our `.Health` (`passing`, `warning`, `critical`). Every instance, whatever its health |
//! | `nomadService <count> "<key>" "[tag.]name"` | `count` instances chosen by rendezvous hashing of `key` (sharding: `nomadService 2 (env "NOMAD_ALLOC_ID") "redis"`) |
//! | `nomadServices ["@region"]` | `.Name .Tags` of every service, sorted by name |
//! | `service "[tag.]name[?ns=..][@dc][~near][\|filter]"` | Consul-shaped instances, **passing only** unless `\|any` or `\|passing,warning`: `.ID .Name .Node .NodeID .NodeAddress .Address .Port .Tags .ServiceMeta .Status .Datacenter`, sorted by node then ID |
//! | `services ["@dc"]` | `.Name .Tags` of every Consul-catalog service |
//! | `byTag <services>` | a map from tag to the services carrying it |
//!
//! KV (`"path[@dc]"`):
//!
//! | function | returns |
//! |---|---|
//! | `key "path"` | the value; the render waits until the key **exists** |
//! | `keyOrDefault "path" "default"` | the value, or the default when absent or empty; does not wait |
//! | `keyExists "path"` | whether the key exists; does not wait |
//! | `ls "prefix"` / `tree "prefix"` | `.Key` (relative) `.Path .Value` of the entries directly under / anywhere under the prefix |
//!
//! Environment (the task's environment and the node's `node.*`, `attr.*`, `meta.*`):
//! `env "NAME"` ("" when unset), `envOrDefault "NAME" "default"` (the default when
//! unset), `mustEnv "NAME"` (an error when unset or empty).
//!
//! Helpers (the subject last, so they pipe: `{{ .Name | toUpper }}`):
//!
//! | function | does |
//! |---|---|
//! | `toJSON v`, `toJSONPretty v` | Go's `encoding/json` (sorted keys, 2-space indent) |
//! | `toLower s`, `toUpper s`, `toTitle s` | case; `toTitle` upper-cases each word's first letter |
//! | `trimSpace s`, `trim "cutset" s`, `trimPrefix "p" s`, `trimSuffix "x" s` | trimming |
//! | `hasPrefix "p" s`, `hasSuffix "x" s` | tests |
//! | `replaceAll "old" "new" s` | every occurrence replaced |
//! | `split "sep" s`, `join "sep" list` | `split` trims `s` first and gives `[]` for "" |
//! | `contains v l`, `in l v` | list membership, or substring when `l` is a string |
//! | `parseInt s`, `parseUint s`, `parseFloat s`, `parseBool s` | strconv's rules; "" is 0 / false |
//! | `add b a`, `subtract b a`, `multiply b a`, `divide b a`, `modulo b a` | `a + b` etc. (`{{ .Port \| add 1 }}`) |
//!
//! No sprig functions. `executeTemplate`, `plugin` and `writeToFile` are refused at
//! compile time (Nomad's default `function_denylist`, see
//! [`TemplateOptions::function_denylist`]), as is any unknown function, with its
//! line and column: `template: t:2:4: function "plugin" is disabled by the client's
//! function_denylist`.
//!
//! Not provided: Vault (`secret`, `pkiCert`), Nomad variables (`nomadVar*`),
//! Consul `connect`/`caRoots`/`node`/`nodes`, `file`, `timestamp`, `parseJSON`,
//! `parseYAML`, `toYAML`, `toTOML`, `regex*`, `sha256Hex`, `base64*`, `sockaddr`.

mod check;
mod consul_query;
mod context;
mod dependency;
pub mod env_file;
mod error;
mod exchange;
mod functions;
mod instance;
mod kv;
mod render;
mod service_query;
mod summary;
mod template;
pub mod testing;
mod value;

pub use consul_query::{ConsulServiceQuery, HealthFilter};
pub use context::{Context, Missing};
pub use dependency::Dependency;
pub use env_file::EnvParseError;
pub use error::{ParseError, QueryError, RenderError};
pub use functions::names as function_names;
pub use instance::{Health, ServiceInstance};
pub use kv::{KeyPair, KeyQuery};
pub use render::{Rendered, render};
pub use service_query::{Choose, ServiceQuery};
pub use summary::ServiceSummary;
pub use template::{Template, TemplateOptions};
