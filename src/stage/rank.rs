//! Which of several copies of `benchfs stage-*` this process is, from the variables the
//! launchers set (no MPI library is linked): each rank copies its own share, and rank 0
//! also collects the others' reports.

/// This process's place among the processes of one staging run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rank {
    pub rank: usize,
    pub size: usize,
    /// Names this launch, the same in every rank and different in the next launch (the
    /// reports of ranks are filed under it); `None` for a single process.
    pub run_id: Option<String>,
}

/// Launchers in order of trust: mpirun's own variables beat Slurm's (mpirun inside an
/// allocation runs under the batch step's Slurm variables), and Slurm's count only inside
/// an `srun` step (a batch script's own environment has SLURM_PROCID=0 and SLURM_NTASKS
/// of the whole job, but it is one process).
const LAUNCHERS: [(&str, &str, &[&str]); 4] = [
    ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", &["PMIX_NAMESPACE", "OMPI_MCA_ess_base_jobid"]),
    ("PMIX_RANK", "PMIX_SIZE", &["PMIX_NAMESPACE"]),
    ("PMI_RANK", "PMI_SIZE", &["PMI_KVSNAME", "PMI_JOBID"]),
    ("SLURM_PROCID", "SLURM_STEP_NUM_TASKS", &["SLURM_JOB_ID", "SLURM_STEP_ID"]),
];

impl Rank {
    /// The rank from the environment (`var` reads a variable); `run_id` overrides the one
    /// derived from the launcher's job identifiers.
    ///
    /// # Errors
    /// A variable that is not a number, a rank not below the size, or several ranks
    /// without anything that names the run.
    pub fn detect(var: impl Fn(&str) -> Option<String>, run_id: Option<String>) -> Result<Rank, String> {
        for (rank_var, size_var, id_vars) in LAUNCHERS {
            let (Some(r), Some(s)) = (var(rank_var), var(size_var)) else { continue };
            if rank_var == "SLURM_PROCID" && var("SLURM_STEP_ID").is_none() {
                continue;
            }
            let num =
                |name: &str, v: &str| v.trim().parse::<usize>().map_err(|_| format!("{name}={v:?} is not a number"));
            let (rank, size) = (num(rank_var, &r)?, num(size_var, &s)?);
            if rank >= size {
                return Err(format!("{rank_var}={rank} is not below {size_var}={size}"));
            }
            let ids: Vec<String> = id_vars.iter().filter_map(|v| var(v)).collect();
            let derived = (!ids.is_empty()).then(|| ids.join("."));
            let run_id = run_id.or(derived).filter(|_| size > 1);
            if size > 1 && run_id.is_none() {
                return Err(format!(
                    "{size} ranks ({rank_var}/{size_var}) but nothing names this run ({}): pass --run-id",
                    id_vars.join(", ")
                ));
            }
            return Ok(Rank { rank, size, run_id: run_id.map(|id| sanitize(&id)) });
        }
        Ok(Rank { rank: 0, size: 1, run_id: None })
    }
}

/// A run id as one file name.
fn sanitize(id: &str) -> String {
    id.chars().map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '_' }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |n| vars.iter().find(|(k, _)| *k == n).map(|(_, v)| v.to_string())
    }

    #[test]
    fn launchers_are_recognised() {
        let slurm =
            [("SLURM_PROCID", "3"), ("SLURM_STEP_NUM_TASKS", "16"), ("SLURM_JOB_ID", "77"), ("SLURM_STEP_ID", "2")];
        assert_eq!(Rank::detect(env(&slurm), None), Ok(Rank { rank: 3, size: 16, run_id: Some("77.2".into()) }));
        let ompi = [("OMPI_COMM_WORLD_RANK", "1"), ("OMPI_COMM_WORLD_SIZE", "2"), ("PMIX_NAMESPACE", "prterun-x/1@0")];
        assert_eq!(Rank::detect(env(&ompi), None).unwrap().run_id.as_deref(), Some("prterun-x_1_0"));
        assert_eq!(Rank::detect(env(&[]), None), Ok(Rank { rank: 0, size: 1, run_id: None }));
    }

    #[test]
    fn a_batch_script_is_one_process() {
        let batch = [("SLURM_PROCID", "0"), ("SLURM_NTASKS", "16"), ("SLURM_JOB_ID", "77")];
        assert_eq!(Rank::detect(env(&batch), None).unwrap().size, 1);
    }

    #[test]
    fn bad_variables_are_errors() {
        assert!(Rank::detect(env(&[("PMI_RANK", "2"), ("PMI_SIZE", "2"), ("PMI_JOBID", "j")]), None).is_err());
        assert!(Rank::detect(env(&[("PMI_RANK", "x"), ("PMI_SIZE", "2")]), None).is_err());
        let no_id = [("PMI_RANK", "0"), ("PMI_SIZE", "2")];
        assert!(Rank::detect(env(&no_id), None).unwrap_err().contains("--run-id"));
        assert_eq!(Rank::detect(env(&no_id), Some("r1".into())).unwrap().run_id.as_deref(), Some("r1"));
    }
}
