//! `caravan alloc ...`: status, logs, fs, stop, restart, signal.

mod ctl;
mod fs;
mod logs;
mod status;

use std::process::ExitCode;

use serde_json::Value;

use crate::fields::{Fields, short};
use crate::ui::Ctx;

#[derive(Debug, clap::Subcommand)]
pub(crate) enum AllocCommand {
    /// Show an allocation: where it runs, its addresses, and each task's state and events.
    Status(status::StatusArgs),
    /// Print (or follow) a task's standard output or error.
    Logs(logs::LogsArgs),
    /// List a directory of an allocation, or print a file from it.
    Fs(fs::FsArgs),
    /// Stop an allocation (the scheduler places a replacement if the job still wants one).
    Stop(ctl::StopArgs),
    /// Restart the tasks of a running allocation, or one of them.
    Restart(ctl::RestartArgs),
    /// Send a signal to the tasks of an allocation, or one of them.
    Signal(ctl::SignalArgs),
}

impl AllocCommand {
    pub(crate) fn run(self, ctx: &mut Ctx<'_>) -> anyhow::Result<ExitCode> {
        match self {
            AllocCommand::Status(args) => args.run(ctx),
            AllocCommand::Logs(args) => args.run(ctx),
            AllocCommand::Fs(args) => args.run(ctx),
            AllocCommand::Stop(args) => args.run(ctx),
            AllocCommand::Restart(args) => args.run(ctx),
            AllocCommand::Signal(args) => args.run(ctx),
        }
    }
}

/// The task names of an allocation: its group's tasks in the job, else its task states.
pub(crate) fn alloc_tasks(alloc: &Value) -> Vec<String> {
    let group = alloc.str_at("TaskGroup");
    let mut tasks: Vec<String> = alloc["Job"]
        .arr_at("TaskGroups")
        .iter()
        .find(|g| g.str_at("Name") == group)
        .map(|g| {
            g.arr_at("Tasks")
                .iter()
                .map(|t| t.str_at("Name").to_owned())
                .collect()
        })
        .unwrap_or_default();
    if tasks.is_empty() {
        tasks = alloc
            .keys_at("TaskStates")
            .into_iter()
            .map(str::to_owned)
            .collect();
    }
    tasks.sort();
    tasks.dedup();
    tasks
}

/// The task a command acts on: the one asked for (which must exist), or the only one.
pub(crate) fn choose_task(
    alloc_id: &str,
    tasks: &[String],
    asked: Option<&str>,
    verb: &str,
) -> Result<String, String> {
    match asked {
        Some(task) if tasks.iter().any(|t| t == task) => Ok(task.to_owned()),
        Some(task) => Err(format!(
            "allocation {:?} has no task named {task:?}; its tasks are: {}",
            short(alloc_id),
            tasks.join(", ")
        )),
        None => match tasks {
            [one] => Ok(one.clone()),
            [] => Err(format!("allocation {:?} has no tasks", short(alloc_id))),
            many => {
                let list: Vec<String> = many.iter().map(|t| format!("  * {t}")).collect();
                Err(format!(
                    "allocation {:?} is running the following tasks:\n{}\n\nPlease select the task to {verb}.",
                    short(alloc_id),
                    list.join("\n")
                ))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn tasks_from_job_or_states() {
        let alloc = json!({"TaskGroup": "g", "Job": {"TaskGroups": [
            {"Name": "other", "Tasks": [{"Name": "x"}]},
            {"Name": "g", "Tasks": [{"Name": "redis"}, {"Name": "app"}]}]}});
        assert_eq!(alloc_tasks(&alloc), ["app", "redis"]);
        let alloc = json!({"TaskGroup": "g", "TaskStates": {"web": {}}});
        assert_eq!(alloc_tasks(&alloc), ["web"]);
    }

    #[test]
    fn task_choice() {
        let one = ["redis".to_owned()];
        let two = ["app".to_owned(), "redis".to_owned()];
        assert_eq!(
            choose_task("8ba85cef-1", &one, None, "view logs for"),
            Ok("redis".to_owned())
        );
        assert_eq!(
            choose_task("8ba85cef-1", &two, Some("app"), "x"),
            Ok("app".to_owned())
        );
        let err = choose_task("8ba85cef-1", &two, None, "view logs for").expect_err("ambiguous");
        assert_eq!(
            err,
            "allocation \"8ba85cef\" is running the following tasks:\n  * app\n  * redis\n\nPlease select the task to view logs for."
        );
        assert!(
            choose_task("8ba85cef-1", &two, Some("db"), "x")
                .expect_err("unknown")
                .contains("app, redis")
        );
    }
}
