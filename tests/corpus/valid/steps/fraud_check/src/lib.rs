//! The handlers of `tests/corpus/valid/custom-step.yaml`.

use orchgen_runtime::steps::{CustomContext, StepError};

/// A fraud score: ten points per item.
pub async fn score(ctx: CustomContext) -> Result<u32, StepError> {
    Ok(ctx.order.items.len() as u32 * 10)
}

/// Forgets the score (nothing is kept outside the order).
pub async fn forget(_ctx: CustomContext) -> Result<(), StepError> {
    Ok(())
}
