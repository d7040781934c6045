"""The training jobs: one module per `--job`, each a `coretf.jobs.base.Job` with its config class.

`base` holds the interface and the registry (`job_names`, `get_job`); `coretf.runner` runs any
job. Adding a job is adding a module here.
"""
