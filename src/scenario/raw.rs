//! Serde structures that mirror the scenario file, key for key.
//!
//! Nothing here is validated beyond TOML types; every field that a later
//! check may reject keeps its source span (`Spanned`) so the error can name
//! the file, line and column. Unknown keys are rejected at parse time.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_spanned::Spanned;

/// A value together with where it was written.
pub type S<T> = Spanned<T>;

/// The whole scenario file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScenario {
    pub scenario: S<RawMeta>,
    #[serde(default)]
    pub simulation: Option<S<RawSimulation>>,
    pub pool: S<RawPool>,
    pub compensation: S<RawCompensation>,
    #[serde(default)]
    pub insurer: Option<S<RawInsurer>>,
    #[serde(default)]
    pub guarantor: Option<S<RawGuarantor>>,
    #[serde(default)]
    pub dependence: Option<S<RawDependence>>,
    #[serde(default)]
    pub segment: Vec<S<RawSegment>>,
    #[serde(default)]
    pub portfolio: Option<S<RawPortfolio>>,
    #[serde(default)]
    pub stress: Vec<S<RawStress>>,
}

/// `[scenario]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMeta {
    pub name: Option<S<String>>,
    pub description: Option<S<String>>,
    pub horizon_years: S<i64>,
    pub currency: Option<S<String>>,
}

/// `[simulation]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSimulation {
    pub paths: Option<S<i64>>,
    pub seed: Option<S<i64>>,
    pub method: Option<S<String>>,
}

/// `[pool]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPool {
    pub initial_balance: S<f64>,
    pub annual_top_up: Option<S<TopUp>>,
    pub interest_rate: Option<S<f64>>,
    pub annual_budget: Option<S<f64>>,
    pub claim_lag_years: Option<S<i64>>,
    pub close_when_depleted: Option<S<bool>>,
}

/// `annual_top_up`: one amount for every ledger year after the first, or a
/// list with one amount per ledger year.
#[derive(Debug)]
pub enum TopUp {
    Scalar(f64),
    List(Vec<S<f64>>),
}

/// `[compensation]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCompensation {
    pub basis: Option<S<String>>,
    pub pool_share: Option<S<f64>>,
    #[serde(default)]
    pub tier: Vec<S<RawTier>>,
    pub first_loan_bonus: Option<S<f64>>,
    pub key_list_bonus: Option<S<f64>>,
    pub policy_tool_bonus: Option<S<f64>>,
    pub max_pool_share: Option<S<f64>>,
    pub max_claim_per_loan: Option<S<f64>>,
    pub suspend_above_npl_ratio: Option<S<f64>>,
    pub bank_annual_cap_ratio: Option<S<f64>>,
    pub recoveries_return_to_pool: Option<S<bool>>,
    pub recovery_lag_years: Option<S<i64>>,
}

/// `[[compensation.tier]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTier {
    pub up_to: S<f64>,
    pub pool_share: S<f64>,
}

/// `[insurer]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawInsurer {
    pub share: S<f64>,
    pub premium_rate: S<f64>,
    pub cost_ratio: Option<S<f64>>,
    pub pool_covers_insurer_excess: Option<S<bool>>,
}

/// `[guarantor]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGuarantor {
    pub share: S<f64>,
}

/// `[dependence]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDependence {
    pub copula: Option<S<String>>,
    pub degrees_of_freedom: Option<S<f64>>,
    pub correlation: Option<S<f64>>,
    pub factor_persistence: Option<S<f64>>,
    pub sectors: Option<S<BTreeMap<String, S<f64>>>>,
}

/// `[[segment]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSegment {
    pub name: S<String>,
    pub loans: S<i64>,
    pub exposure: S<ExposureSpec>,
    pub total_exposure: Option<S<f64>>,
    pub pd: S<f64>,
    pub lgd: S<LgdSpec>,
    pub correlation: Option<S<f64>>,
    pub sector: Option<S<String>>,
    pub term_years: Option<S<i64>>,
    pub renew: Option<S<bool>>,
    pub bank: Option<S<String>>,
    pub banks: Option<S<BTreeMap<String, S<f64>>>>,
    pub first_loan_fraction: Option<S<f64>>,
    pub key_list_fraction: Option<S<f64>>,
    pub policy_tool_fraction: Option<S<f64>>,
}

/// `[portfolio]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPortfolio {
    pub seed: Option<S<i64>>,
    pub tape: Option<S<String>>,
}

/// `[[stress]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStress {
    pub name: S<String>,
    pub description: Option<S<String>>,
    pub pd_multiplier: Option<S<f64>>,
    pub correlation: Option<S<f64>>,
    pub global_factor: Option<S<PinSpec>>,
    pub sectors: Option<S<Vec<S<String>>>>,
    pub factor_persistence: Option<S<f64>>,
}

/// `global_factor = { year = 2, quantile = 0.05 }`, or a list of them.
#[derive(Debug)]
pub enum PinSpec {
    One(RawPin),
    Many(Vec<S<RawPin>>),
}

/// One pinned year of the global factor.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPin {
    pub year: S<i64>,
    pub quantile: S<f64>,
}

/// A segment's exposure: a fixed amount or a lognormal distribution.
#[derive(Debug)]
pub enum ExposureSpec {
    Fixed(f64),
    Lognormal(RawLognormal),
}

/// `{ lognormal = { median = ..., sigma = ... } }`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLognormal {
    pub median: S<f64>,
    pub sigma: S<f64>,
}

/// A segment's loss given default: fixed, or Beta with a mean and sd.
#[derive(Debug)]
pub enum LgdSpec {
    Fixed(f64),
    Beta(RawBeta),
}

/// `{ beta = { mean = ..., sd = ... } }`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBeta {
    pub mean: S<f64>,
    pub sd: S<f64>,
}

/// A value written either as a number or as a one-key table naming a
/// distribution (`{ lognormal = { ... } }`).
trait NumberOrTable: Sized {
    const KEY: &'static str;
    const EXPECTING: &'static str;
    type Table;
    fn number(v: f64) -> Self;
    fn table(t: Self::Table) -> Self;
}

impl NumberOrTable for ExposureSpec {
    const KEY: &'static str = "lognormal";
    const EXPECTING: &'static str =
        "an amount (5_000_000) or { lognormal = { median = 4e6, sigma = 0.6 } }";
    type Table = RawLognormal;
    fn number(v: f64) -> Self {
        ExposureSpec::Fixed(v)
    }
    fn table(t: RawLognormal) -> Self {
        ExposureSpec::Lognormal(t)
    }
}

impl NumberOrTable for LgdSpec {
    const KEY: &'static str = "beta";
    const EXPECTING: &'static str = "a fraction (0.6) or { beta = { mean = 0.6, sd = 0.2 } }";
    type Table = RawBeta;
    fn number(v: f64) -> Self {
        LgdSpec::Fixed(v)
    }
    fn table(t: RawBeta) -> Self {
        LgdSpec::Beta(t)
    }
}

struct NumberOrTableVisitor<T>(std::marker::PhantomData<T>);

impl<'de, T> Visitor<'de> for NumberOrTableVisitor<T>
where
    T: NumberOrTable,
    T::Table: Deserialize<'de>,
{
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(T::EXPECTING)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        Ok(T::number(v as f64))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        Ok(T::number(v as f64))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<T, E> {
        Ok(T::number(v))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<T, A::Error> {
        let Some(key) = map.next_key::<String>()? else {
            return Err(de::Error::custom(format!("expected {}", T::EXPECTING)));
        };
        if key != T::KEY {
            return Err(de::Error::custom(format!(
                "unknown distribution `{key}`: expected {}",
                T::EXPECTING
            )));
        }
        let table = map.next_value::<T::Table>()?;
        if let Some(extra) = map.next_key::<String>()? {
            return Err(de::Error::custom(format!(
                "unexpected key `{extra}`: expected {}",
                T::EXPECTING
            )));
        }
        Ok(T::table(table))
    }
}

impl<'de> Deserialize<'de> for ExposureSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NumberOrTableVisitor(std::marker::PhantomData))
    }
}

impl<'de> Deserialize<'de> for LgdSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NumberOrTableVisitor(std::marker::PhantomData))
    }
}

impl<'de> Deserialize<'de> for TopUp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = TopUp;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an amount, or a list with one amount per ledger year")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<TopUp, E> {
                Ok(TopUp::Scalar(v as f64))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<TopUp, E> {
                Ok(TopUp::Scalar(v as f64))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<TopUp, E> {
                Ok(TopUp::Scalar(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<TopUp, A::Error> {
                let mut out = Vec::new();
                while let Some(v) = seq.next_element()? {
                    out.push(v);
                }
                Ok(TopUp::List(out))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for PinSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = PinSpec;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("{ year = 2, quantile = 0.05 }, or a list of them")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<PinSpec, A::Error> {
                RawPin::deserialize(de::value::MapAccessDeserializer::new(map)).map(PinSpec::One)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<PinSpec, A::Error> {
                let mut out = Vec::new();
                while let Some(v) = seq.next_element()? {
                    out.push(v);
                }
                Ok(PinSpec::Many(out))
            }
        }
        d.deserialize_any(V)
    }
}
