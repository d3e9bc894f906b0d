//! The pool's yearly ledger (model.md section 4, steps 1, 4, 5, 6 and 7), as
//! a pure state machine: the engine feeds it the approved claims due in each
//! ledger year and the recoveries that come back, and reads what was paid.
//!
//! Order in year t: add the top-up (not in year 1 for a scalar top-up; that
//! is folded into [`crate::scenario::Pool::top_ups`]); the money available is
//! the balance plus this year's recoveries; every approved claim due is paid
//! the fraction `min(1, budget / A, available / A)`; the pool is depleted when
//! `A` exceeds what is available (a claim exactly equal to it does not
//! deplete); what is approved but unpaid is shortfall, not carried; the rest
//! earns interest. A pool with `close_when_depleted` pays nothing, takes no
//! top-ups and earns no interest after the year it is depleted; recoveries
//! still come back to its balance.

use crate::scenario::Pool;

/// Relative tolerance of "exceeds": amounts that differ by less than one
/// part in 10^12 are treated as equal, so the rounding of a sum of decimal
/// amounts cannot turn "equal to the balance" into "exceeds it".
pub const TOLERANCE: f64 = 1e-12;

/// Whether `a` exceeds `b` by more than the rounding [`TOLERANCE`].
#[inline]
pub fn exceeds(a: f64, b: f64) -> bool {
    a > b + TOLERANCE * a.abs().max(b.abs())
}

/// What happened in one ledger year.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct YearResult {
    /// Approved claims due this year.
    pub approved: f64,
    /// Paid this year.
    pub paid: f64,
    /// Approved but unpaid this year.
    pub shortfall: f64,
    /// Fraction of each approved claim that was paid (1 when nothing was due).
    pub fraction: f64,
    /// Balance at the end of the year, after interest.
    pub balance: f64,
    /// Whether the claims due exceeded the money available.
    pub depleted: bool,
    /// Whether the claims due exceeded the annual budget.
    pub budget_exceeded: bool,
}

/// The pool's state as the years go by.
#[derive(Clone, Debug)]
pub struct Ledger<'a> {
    rules: &'a Pool,
    balance: f64,
    closed: bool,
}

impl<'a> Ledger<'a> {
    /// A pool at the start of year 1, holding its initial balance.
    pub fn new(rules: &'a Pool) -> Self {
        Self {
            rules,
            balance: rules.initial_balance,
            closed: false,
        }
    }

    /// Runs ledger year `year` (0-based) with `approved` claims due and
    /// `recoveries` coming back this year.
    pub fn year(&mut self, year: usize, approved: f64, recoveries: f64) -> YearResult {
        let rules = self.rules;
        let budget_exceeded = rules.annual_budget.is_some_and(|b| exceeds(approved, b));
        if self.closed {
            self.balance += recoveries;
            return YearResult {
                approved,
                paid: 0.0,
                shortfall: approved,
                fraction: if approved > 0.0 { 0.0 } else { 1.0 },
                balance: self.balance,
                depleted: false,
                budget_exceeded,
            };
        }
        self.balance += rules.top_ups.get(year).copied().unwrap_or(0.0);
        let available = self.balance + recoveries;
        let depleted = exceeds(approved, available);
        let mut paid = if depleted { available } else { approved };
        if let Some(budget) = rules.annual_budget
            && exceeds(paid, budget)
        {
            paid = budget;
        }
        // Paid in full (or nothing due): 1 without dividing (`x / x` is 1).
        let fraction = if paid == approved {
            1.0
        } else {
            paid / approved
        };
        self.balance = (available - paid).max(0.0);
        self.balance *= 1.0 + rules.interest_rate;
        if depleted && rules.close_when_depleted {
            self.closed = true;
        }
        YearResult {
            approved,
            paid,
            shortfall: approved - paid,
            fraction,
            balance: self.balance,
            depleted,
            budget_exceeded,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(initial: f64, top_ups: Vec<f64>) -> Pool {
        Pool {
            initial_balance: initial,
            top_ups,
            interest_rate: 0.0,
            annual_budget: None,
            claim_lag_years: 0,
            close_when_depleted: false,
        }
    }

    #[test]
    fn pays_in_full_while_money_lasts() {
        let p = pool(100.0, vec![0.0; 3]);
        let mut l = Ledger::new(&p);
        let y = l.year(0, 30.0, 0.0);
        assert_eq!(
            (y.paid, y.shortfall, y.balance, y.depleted),
            (30.0, 0.0, 70.0, false)
        );
    }

    #[test]
    fn a_claim_equal_to_the_balance_does_not_deplete() {
        let p = pool(100.0, vec![0.0]);
        let y = Ledger::new(&p).year(0, 100.0, 0.0);
        assert!(!y.depleted);
        assert_eq!((y.paid, y.balance), (100.0, 0.0));
        // Decimal amounts whose sum rounds a hair above the balance.
        let p = pool(0.3, vec![0.0]);
        let y = Ledger::new(&p).year(0, 0.1 + 0.1 + 0.1, 0.0);
        assert!(
            !y.depleted && y.shortfall == 0.0 && y.balance == 0.0,
            "{y:?}"
        );
    }

    #[test]
    fn depletion_pays_pro_rata_and_records_shortfall() {
        let p = pool(100.0, vec![0.0; 2]);
        let mut l = Ledger::new(&p);
        let y = l.year(0, 160.0, 0.0);
        assert!(y.depleted);
        assert_eq!((y.paid, y.shortfall, y.balance), (100.0, 60.0, 0.0));
        assert_eq!(y.fraction, 100.0 / 160.0);
        // The shortfall is not carried: next year starts from zero.
        let y = l.year(1, 10.0, 0.0);
        assert_eq!((y.paid, y.shortfall), (0.0, 10.0));
    }

    #[test]
    fn top_ups_arrive_at_the_start_of_the_year() {
        let p = pool(50.0, vec![0.0, 40.0, 40.0]);
        let mut l = Ledger::new(&p);
        assert_eq!(l.year(0, 60.0, 0.0).paid, 50.0);
        let y = l.year(1, 30.0, 0.0);
        assert_eq!((y.paid, y.balance, y.depleted), (30.0, 10.0, false));
        let y = l.year(2, 0.0, 0.0);
        assert_eq!(y.balance, 50.0);
    }

    #[test]
    fn budget_caps_payment_without_depletion() {
        let mut p = pool(1000.0, vec![0.0; 2]);
        p.annual_budget = Some(200.0);
        let mut l = Ledger::new(&p);
        let y = l.year(0, 300.0, 0.0);
        assert!(y.budget_exceeded && !y.depleted);
        assert_eq!((y.paid, y.shortfall, y.balance), (200.0, 100.0, 800.0));
    }

    #[test]
    fn interest_is_earned_on_what_is_left() {
        let mut p = pool(100.0, vec![0.0; 2]);
        p.interest_rate = 0.1;
        let mut l = Ledger::new(&p);
        let y = l.year(0, 50.0, 0.0);
        assert!((y.balance - 55.0).abs() < 1e-12);
    }

    #[test]
    fn recoveries_add_to_the_money_available() {
        let p = pool(10.0, vec![0.0; 2]);
        let mut l = Ledger::new(&p);
        let y = l.year(0, 15.0, 6.0);
        assert!(!y.depleted);
        assert_eq!((y.paid, y.balance), (15.0, 1.0));
    }

    #[test]
    fn a_closed_pool_pays_nothing_more() {
        let mut p = pool(100.0, vec![0.0, 500.0, 500.0]);
        p.close_when_depleted = true;
        let mut l = Ledger::new(&p);
        assert!(l.year(0, 150.0, 0.0).depleted);
        let y = l.year(1, 10.0, 0.0);
        assert_eq!((y.paid, y.shortfall, y.balance), (0.0, 10.0, 0.0));
        // Without closing, the top-up would have paid it.
        p.close_when_depleted = false;
        let mut l = Ledger::new(&p);
        l.year(0, 150.0, 0.0);
        assert_eq!(l.year(1, 10.0, 0.0).paid, 10.0);
    }
}
