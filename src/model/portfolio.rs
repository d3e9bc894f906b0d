//! The loan portfolio: a fixed list of loans generated once from segment
//! descriptions (or read from a tape), deterministically from the portfolio
//! seed, never from the path seed.
//!
//! Generation order within a segment, each segment on its own ChaCha8 stream
//! (stream = segment index) seeded with the portfolio seed: exposures
//! (one standard normal per loan for a lognormal), then the bank assignment
//! (a shuffle), then the first-loan, key-list and policy-tool flags (one
//! shuffle each). A fraction f flags exactly round(f x loans) loans.

use rand::SeedableRng;
use rand::rngs::ChaCha8Rng;
use rand::seq::SliceRandom;
use rand_distr::{Distribution, StandardNormal};

use crate::scenario::{Exposure, Lgd, Scenario, Segment};

/// One loan of the portfolio.
#[derive(Clone, Debug, PartialEq)]
pub struct Loan {
    /// Outstanding principal (bullet repayment).
    pub exposure: f64,
    /// Annual probability of default.
    pub pd: f64,
    /// Loss given default.
    pub lgd: Lgd,
    /// Asset correlation with the global factor.
    pub correlation: f64,
    /// Index into [`Portfolio::sectors`], if the loan names a sector.
    pub sector: Option<usize>,
    /// Term in years.
    pub term_years: u32,
    /// Whether it is replaced after maturity or default.
    pub renew: bool,
    /// Index into [`Portfolio::banks`].
    pub bank: usize,
    /// Index into [`Portfolio::segments`].
    pub segment: usize,
    /// A firm's first bank loan.
    pub first_loan: bool,
    /// A key-list firm.
    pub key_list: bool,
    /// Funded by a central-bank policy tool.
    pub policy_tool: bool,
}

/// The loans and the names their indices refer to.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Portfolio {
    /// Every loan.
    pub loans: Vec<Loan>,
    /// Segment names (file order).
    pub segments: Vec<String>,
    /// Bank names (order of first appearance).
    pub banks: Vec<String>,
    /// Sector labels (sorted).
    pub sectors: Vec<String>,
    /// A tape's loan ids, one after another, and where each ends (empty for
    /// generated loans, whose id is `segment#k`).
    pub tape_ids: (String, Vec<u32>),
}

impl Portfolio {
    /// The id of loan `i`: the tape's, or `segment#k` for the k-th loan of a
    /// generated segment.
    pub fn loan_id(&self, i: usize) -> String {
        let (text, ends) = &self.tape_ids;
        if let Some(&end) = ends.get(i) {
            let start = if i == 0 { 0 } else { ends[i - 1] as usize };
            return text[start..end as usize].to_string();
        }
        let segment = self.loans[i].segment;
        let k = self.loans[..i]
            .iter()
            .filter(|l| l.segment == segment)
            .count()
            + 1;
        format!("{}#{k}", self.segments[segment])
    }

    /// Total exposure: the plan's volume.
    pub fn volume(&self) -> f64 {
        self.loans.iter().map(|l| l.exposure).sum()
    }

    /// Generates the loans of a scenario's segments.
    pub fn from_segments(scenario: &Scenario) -> Portfolio {
        let mut p = Portfolio {
            segments: scenario.segments.iter().map(|s| s.name.clone()).collect(),
            ..Portfolio::default()
        };
        let mut sectors: Vec<String> = scenario
            .segments
            .iter()
            .filter_map(|s| s.sector.clone())
            .collect();
        sectors.sort();
        sectors.dedup();
        p.sectors = sectors;
        for seg in &scenario.segments {
            for (bank, _) in &seg.banks {
                if !p.banks.contains(bank) {
                    p.banks.push(bank.clone());
                }
            }
        }
        for (si, seg) in scenario.segments.iter().enumerate() {
            let mut rng = ChaCha8Rng::seed_from_u64(scenario.portfolio_seed);
            rng.set_stream(si as u64);
            generate_segment(&mut p, si, seg, &mut rng);
        }
        p
    }
}

fn generate_segment(p: &mut Portfolio, si: usize, seg: &Segment, rng: &mut ChaCha8Rng) {
    let n = seg.loans as usize;
    let mut exposures: Vec<f64> = match seg.exposure {
        Exposure::Fixed(x) => vec![x; n],
        Exposure::Lognormal { median, sigma } => (0..n)
            .map(|_| {
                let z: f64 = StandardNormal.sample(rng);
                median * (sigma * z).exp()
            })
            .collect(),
    };
    if let Some(total) = seg.total_exposure {
        let sum: f64 = exposures.iter().sum();
        let scale = total / sum;
        for e in &mut exposures {
            *e *= scale;
        }
    }
    let bank_names: Vec<&str> = seg.banks.iter().map(|b| b.0.as_str()).collect();
    let weights: Vec<f64> = seg.banks.iter().map(|b| b.1).collect();
    let mut banks: Vec<usize> = Vec::with_capacity(n);
    for (k, count) in apportion(n, &weights).into_iter().enumerate() {
        let idx = p.banks.iter().position(|b| b == bank_names[k]).unwrap_or(0);
        banks.extend(std::iter::repeat_n(idx, count));
    }
    banks.shuffle(rng);
    let first_loan = flags(n, seg.first_loan_fraction, rng);
    let key_list = flags(n, seg.key_list_fraction, rng);
    let policy_tool = flags(n, seg.policy_tool_fraction, rng);
    let sector = seg
        .sector
        .as_ref()
        .and_then(|s| p.sectors.iter().position(|x| x == s));
    for k in 0..n {
        p.loans.push(Loan {
            exposure: exposures[k],
            pd: seg.pd,
            lgd: seg.lgd,
            correlation: seg.correlation,
            sector,
            term_years: seg.term_years,
            renew: seg.renew,
            bank: banks[k],
            segment: si,
            first_loan: first_loan[k],
            key_list: key_list[k],
            policy_tool: policy_tool[k],
        });
    }
}

/// Exactly `round(f * n)` of `n` flags set, at random positions.
fn flags(n: usize, f: f64, rng: &mut ChaCha8Rng) -> Vec<bool> {
    let k = ((f * n as f64).round() as usize).min(n);
    let mut v = vec![false; n];
    v[..k].iter_mut().for_each(|x| *x = true);
    if k > 0 && k < n {
        v.shuffle(rng);
    }
    v
}

/// Splits `n` items by `weights` (summing to 1) into whole counts that add
/// up to `n`: floors first, then the largest remainders (ties to the first).
pub fn apportion(n: usize, weights: &[f64]) -> Vec<usize> {
    let raw: Vec<f64> = weights.iter().map(|w| w * n as f64).collect();
    let mut counts: Vec<usize> = raw.iter().map(|r| r.floor() as usize).collect();
    let mut left = n.saturating_sub(counts.iter().sum());
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by(|&a, &b| {
        (raw[b] - raw[b].floor())
            .total_cmp(&(raw[a] - raw[a].floor()))
            .then(a.cmp(&b))
    });
    for &i in order.iter().cycle() {
        if left == 0 || weights.is_empty() {
            break;
        }
        counts[i] += 1;
        left -= 1;
    }
    debug_assert!(weights.is_empty() || counts.iter().sum::<usize>() == n);
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apportion_adds_up() {
        assert_eq!(apportion(10, &[0.6, 0.4]), vec![6, 4]);
        assert_eq!(apportion(3, &[1.0 / 3.0; 3]), vec![1, 1, 1]);
        assert_eq!(apportion(7, &[0.5, 0.25, 0.25]).iter().sum::<usize>(), 7);
        assert_eq!(apportion(1, &[0.3, 0.7]), vec![0, 1]);
        // Weights that do not add up to 1 (or underflow) still give n.
        assert_eq!(apportion(100, &[0.0, 0.0]).iter().sum::<usize>(), 100);
    }

    #[test]
    fn flags_mark_exactly_the_rounded_count() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let v = flags(605, 0.3, &mut rng);
        assert_eq!(v.iter().filter(|x| **x).count(), 182);
    }
}
