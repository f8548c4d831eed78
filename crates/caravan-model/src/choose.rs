//! Rendezvous selection (`?choose=<count>|<key>`): each caller, named by its key, gets
//! its own stable subset of a service's instances, and the subsets spread the callers
//! evenly (`{{ range nomadService 3 (env "NOMAD_ALLOC_ID") "redis" }}`).

use std::borrow::Borrow;
use std::str::FromStr;

use crate::ServiceRegistration;

/// A parsed `choose` parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choose {
    /// How many instances to keep at most.
    pub count: usize,
    /// Who is asking (an allocation id, in practice); mixed into every instance's rank.
    pub key: String,
}

/// A `choose` value that is not `<count>|<key>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed choose parameter {0:?}: expected <count>|<key>")]
pub struct ChooseError(pub String);

impl FromStr for Choose {
    type Err = ChooseError;

    /// `3|key`: a non-negative count, a bar, and a non-empty key (which may itself
    /// contain bars).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let malformed = || ChooseError(s.to_owned());
        let (count, key) = s.split_once('|').ok_or_else(malformed)?;
        let count = count.parse::<usize>().map_err(|_| malformed())?;
        if key.is_empty() {
            return Err(malformed());
        }
        Ok(Self {
            count,
            key: key.to_owned(),
        })
    }
}

impl Choose {
    /// The first `count` instances ranked by [`ServiceRegistration::hash_with`] the key,
    /// ascending; instances with equal ranks keep their order.
    pub fn select<T: Borrow<ServiceRegistration>>(&self, regs: Vec<T>) -> Vec<T> {
        let mut ranked: Vec<(String, T)> = regs
            .into_iter()
            .map(|r| (r.borrow().hash_with(&self.key), r))
            .collect();
        // `sort_by` is stable.
        ranked.sort_by(|a, b| a.0.cmp(&b.0));
        ranked.truncate(self.count);
        ranked.into_iter().map(|(_, r)| r).collect()
    }
}

/// Parses `param` (`<count>|<key>`) and selects from `regs` with it.
pub fn choose<T: Borrow<ServiceRegistration>>(
    regs: Vec<T>,
    param: &str,
) -> Result<Vec<T>, ChooseError> {
    Ok(param.parse::<Choose>()?.select(regs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AllocId;

    fn instance(alloc: &str, port: u16) -> ServiceRegistration {
        let alloc_id = AllocId::from(alloc);
        ServiceRegistration {
            id: ServiceRegistration::task_service_id(&alloc_id, "redis", "redis", "db"),
            service_name: "redis".into(),
            namespace: "default".into(),
            alloc_id,
            address: "127.0.0.1".into(),
            port,
            tags: vec!["db".into()],
            ..ServiceRegistration::default()
        }
    }

    fn four() -> Vec<ServiceRegistration> {
        vec![
            instance("a1", 20001),
            instance("a2", 20002),
            instance("a3", 20003),
            instance("a4", 20004),
        ]
    }

    fn allocs(regs: &[&ServiceRegistration]) -> Vec<String> {
        regs.iter().map(|r| r.alloc_id.to_string()).collect()
    }

    #[test]
    fn parses_count_and_key() {
        assert_eq!(
            "2|abc".parse(),
            Ok(Choose {
                count: 2,
                key: "abc".into()
            })
        );
        assert_eq!("0|a|b".parse::<Choose>().map(|c| c.key), Ok("a|b".into()));
        for bad in ["", "3", "|key", "x|key", "-1|key", "3|", "1.5|k"] {
            assert_eq!(bad.parse::<Choose>(), Err(ChooseError(bad.into())), "{bad}");
        }
    }

    #[test]
    fn ranks_by_hash_with_the_key() {
        // The orders were computed outside Rust (Python's hashlib):
        //   client-1: a4 1c09be71.., a2 268bd169.., a1 3282b031.., a3 9d713a87..
        //   client-2: a3 04203e4f.., a1 0cd30ffa.., a4 8b7c9cf7.., a2 dd9bbc4e..
        let regs = four();
        let refs: Vec<&ServiceRegistration> = regs.iter().collect();
        let first = choose(refs.clone(), "4|client-1").expect("valid");
        assert_eq!(allocs(&first), ["a4", "a2", "a1", "a3"]);
        let second = choose(refs.clone(), "2|client-2").expect("valid");
        assert_eq!(allocs(&second), ["a3", "a1"]);
    }

    #[test]
    fn count_is_capped_and_order_of_input_does_not_matter() {
        let regs = four();
        let mut refs: Vec<&ServiceRegistration> = regs.iter().collect();
        let all = choose(refs.clone(), "10|client-1").expect("valid");
        assert_eq!(all.len(), 4);
        refs.reverse();
        let reversed = choose(refs.clone(), "10|client-1").expect("valid");
        assert_eq!(allocs(&all), allocs(&reversed));
        assert!(choose(refs, "0|client-1").expect("valid").is_empty());
        let owned = choose(four(), "1|client-2").expect("owned values too");
        assert_eq!(owned[0].alloc_id.as_str(), "a3");
    }

    #[test]
    fn equal_ranks_keep_their_order() {
        // Two identical instances hash alike: the stable sort keeps the input order.
        let mut a = instance("a1", 1);
        a.meta.insert("n".into(), "first".into());
        let mut b = instance("a1", 1);
        b.meta.insert("n".into(), "second".into());
        let picked = choose(vec![&a, &b], "2|k").expect("valid");
        assert_eq!(picked[0].meta["n"], "first");
    }
}
