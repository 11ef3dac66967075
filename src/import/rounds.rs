//! Which boosting rounds of a model file to convert (`--rounds`).
//!
//! A model trained with early stopping keeps every round plus the best
//! iteration. What predicts with what depends on the API that saved it:
//! XGBoost's scikit-learn wrappers predict with `best_iteration + 1` rounds,
//! a `Booster` saved by `xgb.train` with all of them. [`Rounds::Default`]
//! reproduces the saving API; the others override it.

use std::fmt;
use std::str::FromStr;

/// The rounds to convert.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Rounds {
    /// What the API that saved the model predicts with.
    #[default]
    Default,
    /// Every round in the file.
    All,
    /// `best_iteration + 1` rounds (an error when the file records none).
    Best,
    /// The first `n` rounds (an error beyond the rounds in the file).
    First(usize),
}

impl FromStr for Rounds {
    type Err = String;

    /// `all`, `best` or a positive number of rounds.
    fn from_str(s: &str) -> Result<Rounds, String> {
        match s {
            "all" => Ok(Rounds::All),
            "best" => Ok(Rounds::Best),
            n => match n.parse::<usize>() {
                Ok(n) if n > 0 => Ok(Rounds::First(n)),
                _ => Err(format!(
                    "`{s}`: expected all, best or a positive number of rounds"
                )),
            },
        }
    }
}

impl fmt::Display for Rounds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rounds::Default => f.write_str("default"),
            Rounds::All => f.write_str("all"),
            Rounds::Best => f.write_str("best"),
            Rounds::First(n) => write!(f, "{n}"),
        }
    }
}

/// What a model file says about its rounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RoundsInFile {
    /// Rounds stored.
    pub total: usize,
    /// The recorded best iteration (0-based), if any.
    pub best_iteration: Option<usize>,
    /// Whether the saving API predicts with `best_iteration + 1` rounds
    /// (XGBoost's scikit-learn wrappers).
    pub predicts_with_best: bool,
}

/// The rounds chosen, and why (shown by `inspect` and `convert`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoundsChoice {
    /// Rounds kept: the first `kept` of the file's.
    pub kept: usize,
    /// Why, in words.
    pub reason: String,
}

impl RoundsInFile {
    /// The rounds `asked` keeps, or why it cannot be honoured.
    pub fn choose(&self, asked: Rounds) -> Result<RoundsChoice, String> {
        let total = self.total;
        let best = self.best_iteration.map(|b| b + 1).filter(|&b| b <= total);
        let choice = |kept: usize, reason: String| Ok(RoundsChoice { kept, reason });
        match asked {
            Rounds::Default => match best {
                Some(b) if self.predicts_with_best => choice(
                    b,
                    format!(
                        "{b} of {total}, up to the best iteration, as the API that saved the \
                         model predicts (--rounds all for every round)"
                    ),
                ),
                Some(_) => choice(
                    total,
                    "all, as Booster.predict does (--rounds best: up to the best iteration)".into(),
                ),
                None => choice(total, "all".into()),
            },
            Rounds::All => choice(total, "all (--rounds all)".into()),
            Rounds::Best => match (best, self.best_iteration) {
                (Some(b), _) => choice(
                    b,
                    format!("{b} of {total}, up to the best iteration (--rounds best)"),
                ),
                (None, Some(i)) => Err(format!(
                    "--rounds best: best_iteration {i} is beyond the {total} rounds in the file"
                )),
                (None, None) => Err("--rounds best: the file records no best_iteration".into()),
            },
            Rounds::First(n) if n <= total => choice(n, format!("{n} of {total} (--rounds {n})")),
            Rounds::First(n) => Err(format!("--rounds {n}: the file holds {total} rounds")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(best: Option<usize>, wrapper: bool) -> RoundsInFile {
        RoundsInFile {
            total: 15,
            best_iteration: best,
            predicts_with_best: wrapper,
        }
    }

    #[test]
    fn the_default_follows_the_saving_api() {
        assert_eq!(
            file(Some(9), true).choose(Rounds::Default).unwrap().kept,
            10
        );
        assert_eq!(
            file(Some(9), false).choose(Rounds::Default).unwrap().kept,
            15
        );
        assert_eq!(file(None, true).choose(Rounds::Default).unwrap().kept, 15);
        // A best iteration beyond the rounds stored is ignored.
        assert_eq!(
            file(Some(15), true).choose(Rounds::Default).unwrap().kept,
            15
        );
    }

    #[test]
    fn explicit_rounds_override_it() {
        assert_eq!(file(Some(9), false).choose(Rounds::Best).unwrap().kept, 10);
        assert_eq!(file(Some(9), true).choose(Rounds::All).unwrap().kept, 15);
        assert_eq!(file(None, false).choose(Rounds::First(3)).unwrap().kept, 3);
        assert!(file(None, false).choose(Rounds::Best).is_err());
        assert!(file(None, false).choose(Rounds::First(16)).is_err());
        assert!(file(Some(20), false).choose(Rounds::Best).is_err());
    }

    #[test]
    fn parses_the_command_line_spelling() {
        assert_eq!("all".parse(), Ok(Rounds::All));
        assert_eq!("best".parse(), Ok(Rounds::Best));
        assert_eq!("7".parse(), Ok(Rounds::First(7)));
        assert!("0".parse::<Rounds>().is_err());
        assert!("-1".parse::<Rounds>().is_err());
        assert!("most".parse::<Rounds>().is_err());
    }
}
