//! Numerical building blocks: normal and Student-t distribution functions,
//! and an exact summation type that makes merged totals independent of how
//! the work was split.

pub mod exact;
pub mod normal;

pub use exact::ExactSum;
pub use normal::{norm_cdf, norm_inv, student_t_inv};
