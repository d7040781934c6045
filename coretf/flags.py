"""Command-line flags made from configuration dataclasses (`coretf.config`), for absl apps.

Each field of a job's configuration becomes the flag of the same name, its help text and allowed
values taken from the field's `option(...)`: str (an enum when the field has choices), int,
float, bool and tuples (comma-separated lists). The flags of `python -m coretf.train` are the
union over all jobs: the shared `TrainConfig` fields once, then each job's own; a field that two
jobs share (e.g. `--filters`) is one flag. A flag that is not given takes the chosen job's
default, so each job keeps its own defaults, and a flag given that the chosen job does not have is
an error (it would otherwise be silently ignored).

Every command starts through `run_command`: `--help` lists the command's own flags and exits 0,
a bad flag is one line on stderr with exit code 2, and renamed flags keep their old names for one
release (with a warning).

Library code never reads FLAGS: `config_from_flags` turns parsed flags into a configuration that
is passed on as an argument.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable

from absl import app, flags

from coretf import config as config_lib
from coretf import io as coretf_io
from coretf.jobs import base


def _help(entries: list[tuple[str, object, dict]]) -> tuple[object, str]:
    """(flag default, help text) of a field declared by one or more configuration classes."""
    text = entries[0][2]["help"]
    defaults = {owner: default for owner, default, _ in entries}
    if len({repr(d) for d in defaults.values()}) == 1:
        return entries[0][1], text
    listed = "; ".join(f"{owner}: {_format(default)}" for owner, default in defaults.items())
    return None, f"{text} Default per job: {listed}."


def _format(value) -> str:
    return ",".join(map(str, value)) if isinstance(value, tuple) else str(value)


def define_config_flags(config_classes: dict[str, type], flag_values: flags.FlagValues = flags.FLAGS,
                        skip: Iterable[str] = ()) -> None:
    """Defines one flag per field of the given configuration classes (`{owner: class}`).

    A field declared by several classes is defined once: its choices are the union, its default
    the common one (or None, with each owner's default in the help, when they differ).
    """
    declared: dict[str, list] = {}
    for owner, config_class in config_classes.items():
        for name, (field, annotation) in config_lib.fields(config_class).items():
            if name in skip:
                continue
            declared.setdefault(name, []).append((owner, field.default, field.metadata, annotation))
    for name, entries in declared.items():
        scalar, is_tuple, _ = config_lib.element_type(entries[0][3])
        default, text = _help([(o, d, m) for o, d, m, _ in entries])
        choices = [c for _, _, m, _ in entries for c in (m["choices"] or ())]
        owners = [owner for owner, _, _, _ in entries]
        if "all jobs" not in owners:  # say whose setting it is, e.g. "rock_ct: P(pore) threshold ..."
            text = f"{', '.join(owners)}: {text}"
        if is_tuple:
            shown = None if default is None else [str(v) for v in default]
            if choices:
                text = f"{text} Among: {','.join(dict.fromkeys(map(str, choices)))}."
            flags.DEFINE_list(name, shown, text, flag_values=flag_values)
        elif scalar is bool:
            flags.DEFINE_boolean(name, default, text, flag_values=flag_values)
        elif scalar is int:
            flags.DEFINE_integer(name, default, text, flag_values=flag_values)
        elif scalar is float:
            flags.DEFINE_float(name, default, text, flag_values=flag_values)
        elif choices:
            flags.DEFINE_enum(name, default, list(dict.fromkeys(choices)), text, flag_values=flag_values)
        else:
            flags.DEFINE_string(name, default, text, flag_values=flag_values)


def _parse_list(name: str, values: list[str], scalar, choices) -> tuple:
    try:
        items = tuple(scalar(v.strip().lower() if choices else v.strip()) for v in values)
    except ValueError:
        kind = {int: "integers", float: "numbers"}.get(scalar, "values")
        raise ValueError(f"--{name}={','.join(values)}: expected {kind}") from None
    return items


def config_from_flags(config_class: type, flag_values: flags.FlagValues = flags.FLAGS, **fixed):
    """A `config_class` instance from parsed flags: given flags, else the class's defaults.

    Args:
        config_class: a configuration dataclass whose fields are defined as flags.
        flag_values: parsed flags.
        **fixed: field values that do not come from flags (e.g. `job`).

    Raises:
        ValueError: naming the flag, for a value the configuration refuses.
    """
    values = dict(fixed)
    for name, (field, annotation) in config_lib.fields(config_class).items():
        if name in values or not flag_values[name].present:
            continue
        value = flag_values[name].value
        scalar, is_tuple, _ = config_lib.element_type(annotation)
        if is_tuple and value is not None:
            value = _parse_list(name, value, scalar, field.metadata.get("choices"))
            value = value or (None if field.default is None else ())
        values[name] = value
    return config_class(**values)


def config_flags(config) -> list[str]:
    """The command-line flags that give `config` back (a flagfile's lines), one per field."""
    lines = []
    for name, (_, annotation) in config_lib.fields(type(config)).items():
        value = getattr(config, name)
        if value is None:
            continue
        if isinstance(value, bool):
            lines.append(f"--{name}" if value else f"--no{name}")
        elif isinstance(value, tuple):
            lines.append(f"--{name}={','.join(map(str, value))}")
        else:
            lines.append(f"--{name}={value}")
    return lines


HELP_FLAGS = ("--help", "-help", "-h", "-?", "--helpshort")
# Old flag name -> new name, in every command that has the new one (kept until coretf 0.3).
RENAMED = {"model": "architecture", "output_dir": "output", "sections_csv": "sections",
           "images": "input", "crops": "input"}


def _module_key(main: Callable) -> str:
    """The name absl files a module's flags under: the script's path for `python -m`."""
    return sys.argv[0] if main.__module__ == "__main__" else main.__module__


def command_help(main: Callable, flag_values: flags.FlagValues = flags.FLAGS) -> str:
    """`--help` of a command: its docstring and its own flags (not TensorFlow's or absl's)."""
    doc = (sys.modules[main.__module__].__doc__ or "").strip()
    own = flag_values.module_help(_module_key(main)).strip()
    return (f"{doc}\n\n{own}\n\n--helpfull also lists absl's flags; "
            f"-v 1 shows TensorFlow's start-up messages.\n")


def _renamed(args: list[str], flag_values: flags.FlagValues) -> list[str]:
    """Arguments with old flag names replaced by the new ones (warned once each)."""
    out = []
    for arg in args:
        name = arg.lstrip("-").split("=", 1)[0] if arg.startswith("--") else ""
        bare = name[2:] if name.startswith("no") and name[2:] in RENAMED else name
        new = RENAMED.get(bare)
        if new and bare not in flag_values and new in flag_values:
            print(f"warning: --{bare} is deprecated, use --{new} (the old name goes in coretf 0.3)",
                  file=sys.stderr)
            arg = arg.replace(bare, new, 1)
        out.append(arg)
    return out


def parse_command_line(argv: list[str], main: Callable,
                       flag_values: flags.FlagValues = flags.FLAGS) -> list[str]:
    """absl's parsing with `--help` exiting 0, renamed flags mapped, errors exiting 2 in one line."""
    args = argv[1:]
    if any(arg in HELP_FLAGS for arg in args):
        print(command_help(main, flag_values), end="")
        sys.exit(0)
    if "--helpfull" in args:
        print(flag_values.get_help())
        sys.exit(0)
    try:
        args = _renamed(flag_values.read_flags_from_files(args, force_gnu=False), flag_values)
        return flag_values([argv[0], *args])
    except flags.Error as error:
        print(f"error: {error} (see --help)", file=sys.stderr)
        sys.exit(2)


def run_command(main: Callable, define_flags: Callable[[], None] | None = None) -> None:
    """Starts a command: defines its flags, parses the command line, runs `main(argv)`.

    The `__main__` block of every command and its console script (`coretf-<command>`) call this.
    A refusal (`app.UsageError`) is one line on stderr and exit code 2, like a bad flag.
    """
    if define_flags is not None:
        define_flags()
    if "max_pixels" not in flags.FLAGS:  # every command's: the guard before any image is decoded
        flags.DEFINE_integer("max_pixels", coretf_io.DEFAULT_MAX_PIXELS,
                             "Largest image read, in pixels its header declares (refused above, "
                             "before decoding).", lower_bound=1, module_name=_module_key(main))

    def checked_main(argv):
        os.environ[coretf_io.MAX_PIXELS_ENV] = str(flags.FLAGS.max_pixels)  # workers inherit it
        try:
            return main(argv)
        except app.UsageError as error:  # absl would print the whole help above it
            print(f"error: {error} (see --help)", file=sys.stderr)
            sys.exit(2)

    app.run(checked_main, flags_parser=lambda argv: parse_command_line(argv, main))


def define_train_flags(flag_values: flags.FlagValues = flags.FLAGS) -> None:
    """The flags of `python -m coretf.train`: --job, --model_dir and every job's configuration."""
    names = base.job_names()
    flags.DEFINE_enum("job", "sediment_cores", names, "Which job (dataset, model, metrics and export) "
                      "to train.", flag_values=flag_values)
    flags.DEFINE_string("model_dir", None, "Where checkpoints, logs, metrics and export go.",
                        required=True, flag_values=flag_values)
    classes = {"all jobs": base.TrainConfig}
    classes.update({name: base.get_job(name).config_class for name in names})
    define_config_flags(classes, flag_values, skip=("job",))


def job_from_flags(flag_values: flags.FlagValues = flags.FLAGS) -> base.Job:
    """The job `--job` names, configured from the parsed flags.

    Raises:
        ValueError: a flag given that the job does not have, or a value its configuration refuses.
    """
    job_class = base.get_job(flag_values["job"].value)
    own = set(config_lib.fields(job_class.config_class))
    foreign = set()
    for name in base.job_names():
        foreign |= set(config_lib.fields(base.get_job(name).config_class)) - own
    given = sorted(name for name in foreign if flag_values[name].present)
    if given:
        raise ValueError(f"--{given[0]} is not a setting of --job={job_class.name} "
                         f"(its settings: {', '.join(sorted(own - {'job'}))})")
    return job_class(config_from_flags(job_class.config_class, flag_values, job=job_class.name))
