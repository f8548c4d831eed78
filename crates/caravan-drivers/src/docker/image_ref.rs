//! An image reference split the way the pull API wants it.

/// `registry:5000/team/app:1.2` is repository `registry:5000/team/app`, tag `1.2`; a
/// reference by digest keeps the digest in the repository and has no tag; no tag
/// means `latest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    pub repository: String,
    pub tag: Option<String>,
}

impl ImageRef {
    pub fn parse(image: &str) -> Self {
        if image.contains('@') {
            return Self {
                repository: image.to_owned(),
                tag: None,
            };
        }
        // A colon before the last slash belongs to a registry's port.
        let name_start = image.rfind('/').map_or(0, |i| i + 1);
        match image[name_start..].rfind(':') {
            Some(i) => Self {
                repository: image[..name_start + i].to_owned(),
                tag: Some(image[name_start + i + 1..].to_owned()),
            },
            None => Self {
                repository: image.to_owned(),
                tag: Some("latest".to_owned()),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(image: &str) -> (String, Option<String>) {
        let r = ImageRef::parse(image);
        (r.repository, r.tag)
    }

    #[test]
    fn splits_tags_registries_and_digests() {
        assert_eq!(split("redis:7"), ("redis".into(), Some("7".into())));
        assert_eq!(split("redis"), ("redis".into(), Some("latest".into())));
        assert_eq!(
            split("reg:5000/team/app"),
            ("reg:5000/team/app".into(), Some("latest".into()))
        );
        assert_eq!(
            split("reg:5000/team/app:1.2"),
            ("reg:5000/team/app".into(), Some("1.2".into()))
        );
        assert_eq!(split("app@sha256:abc"), ("app@sha256:abc".into(), None));
    }
}
