//! `caravan service delete NAME ID`: remove one instance from the catalog (an operator
//! cleaning up; the client that runs the instance registers it again on its next
//! change).

use std::process::ExitCode;

use anyhow::Context;

use crate::fields::enc;
use crate::ui::Ctx;

#[derive(Debug, clap::Args)]
pub(crate) struct DeleteArgs {
    /// The service's name.
    #[arg(value_name = "NAME")]
    name: String,
    /// The instance's id (`_nomad-task-...`, as `service info -verbose` shows it).
    #[arg(value_name = "ID")]
    id: String,
}

impl DeleteArgs {
    pub(crate) fn run(self, ctx: &mut Ctx<'_>) -> anyhow::Result<ExitCode> {
        let client = ctx.client()?;
        let path = format!("/v1/service/{}/{}", enc(&self.name), enc(&self.id));
        client
            .delete(&path)
            .with_context(|| format!("deleting service registration {:?}", self.id))?;
        ctx.ui.out("Successfully deleted service registration");
        Ok(ExitCode::SUCCESS)
    }
}
