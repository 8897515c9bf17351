//! nat gateway actions (to be written).

use fort_model::ApiError;

use super::Ctx;
use crate::xml::Xml;

crate::actions!();

pub async fn run(action: Action, _ctx: &Ctx<'_>) -> Result<Xml, ApiError> {
    match action {}
}
