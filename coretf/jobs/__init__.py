"""One module per job (`--job`): each has `run(config, model_dir, policy) -> metrics` and
`summary_lines(metrics) -> list[str]`; `coretf.train` imports the one asked for."""
