"""The flags of `python -m coretf.train` come from the jobs' configuration dataclasses.

Every flagfile in trainers/ parses into the configuration it always meant; help texts and choices
come from the fields (and the choices from the model modules); each job keeps its own defaults.
"""

import pathlib

import pytest
from absl import flags

from coretf import config as config_lib
from coretf import flags as coretf_flags
from coretf.jobs import base
from coretf.jobs.ice_ct import IceConfig
from coretf.jobs.rock_ct import RockConfig
from coretf.jobs.sediment_cores import CoresConfig
from coretf.jobs.sediment_grains import GrainsConfig
from coretf.models import MODELS, resnet_vae

REPO = pathlib.Path(__file__).resolve().parents[1]
FLAGFILES = sorted((REPO / "trainers").glob("*.flags"))


def _parse(*argv: str) -> flags.FlagValues:
    flag_values = flags.FlagValues()
    coretf_flags.define_train_flags(flag_values)
    flag_values(["train", *argv])
    return flag_values


@pytest.mark.parametrize("path", FLAGFILES, ids=[p.stem for p in FLAGFILES])
def test_every_flagfile_parses_into_its_jobs_configuration(path):
    flag_values = _parse(f"--flagfile={path}", "--model_dir=/nonexistent/model")
    job = coretf_flags.job_from_flags(flag_values)
    assert job.name == flag_values["job"].value and isinstance(job.config, job.config_class)
    assert job.config.job == job.name
    for name in config_lib.fields(job.config_class):  # a given flag reached the configuration
        if name != "job" and flag_values[name].present and not isinstance(getattr(job.config, name), tuple):
            assert getattr(job.config, name) == flag_values[name].value, name


def test_flagfiles_mean_what_they_always_meant():
    demo = coretf_flags.job_from_flags(_parse(f"--flagfile={REPO / 'trainers' / 'demo.flags'}")).config
    assert demo == CoresConfig(job="sediment_cores", dataset="synthetic", architecture="segnet", kernel_size=3, filters=(32,), depth=4,
                               batch_size=16, epochs=5, steps_per_epoch=40, mixed_precision="float32")
    ice = coretf_flags.job_from_flags(_parse(f"--flagfile={REPO / 'trainers' / 'ice_ct_fast.flags'}")).config
    assert ice.filters == (16, 32, 48, 56, 64) and ice.ice_batchnorm is True and ice.ice_tile == 192
    cs = coretf_flags.job_from_flags(_parse(f"--flagfile={REPO / 'trainers' / 'hutton_table4_cs.flags'}")).config
    assert cs.augment == ("cs",) and cs.kernel_size == 5 and cs.dataset == "synthetic_256" and cs.epochs == 20
    rock = coretf_flags.job_from_flags(_parse(
        f"--flagfile={REPO / 'trainers' / 'rock_ct_experiment_fast.flags'}")).config
    assert isinstance(rock, RockConfig) and rock.rock_iou_form == "patch"


def test_help_and_choices_come_from_the_fields_and_the_model_modules():
    flag_values = _parse("--model_dir=/nonexistent")
    assert flag_values["vae_backbone"].parser.enum_values == list(resnet_vae.BACKBONES)
    assert flag_values["vae_reconstruction"].parser.enum_values == list(resnet_vae.RECONSTRUCTIONS)
    assert flag_values["architecture"].parser.enum_values == list(MODELS)
    field = config_lib.fields(IceConfig)["ice_tile"][0]
    assert flag_values["ice_tile"].help == f"ice_ct: {field.metadata['help']}"  # whose setting it is
    assert flag_values["batch_size"].default == 16 and flag_values["job"].parser.enum_values == list(base.job_names())
    # a flag two jobs declare with different defaults: each job keeps its own
    assert flag_values["architecture"].default is None and "sediment_cores: segnet" in flag_values["architecture"].help
    assert "rock_ct: unet" in flag_values["architecture"].help


def test_each_job_keeps_its_defaults_and_refuses_foreign_flags():
    rock = coretf_flags.job_from_flags(_parse("--job=rock_ct", "--model_dir=/x")).config
    assert rock.architecture == "unet" and rock.rock_patch_size == 64
    cores = coretf_flags.job_from_flags(_parse("--model_dir=/x")).config
    assert cores == CoresConfig(job="sediment_cores") and cores.architecture == "segnet"
    grains = coretf_flags.job_from_flags(_parse("--job=sediment_grains", "--novae_dihedral",
                                                "--model_dir=/x")).config
    assert grains == GrainsConfig(job="sediment_grains", vae_dihedral=False)
    with pytest.raises(ValueError, match="--ice_tile is not a setting of --job=sediment_cores"):
        coretf_flags.job_from_flags(_parse("--ice_tile=64", "--model_dir=/x"))


def test_bad_values_are_named():
    with pytest.raises(ValueError, match="--filters=4,x: expected integers"):
        coretf_flags.job_from_flags(_parse("--filters=4,x", "--model_dir=/x"))
    with pytest.raises(ValueError, match=r"--augment=gn,xx: unknown \['xx'\]"):
        coretf_flags.job_from_flags(_parse("--augment=GN,xx", "--model_dir=/x"))
    with pytest.raises(ValueError, match="--rock_threshold=1.5: must be in \\(0, 1\\)"):
        coretf_flags.job_from_flags(_parse("--job=rock_ct", "--rock_threshold=1.5", "--model_dir=/x"))
    with pytest.raises(ValueError, match="--batch_size=0: must be >= 1"):
        coretf_flags.job_from_flags(_parse("--batch_size=0", "--model_dir=/x"))
    with pytest.raises(flags.IllegalFlagValueError):
        _parse("--mixed_precision=float8", "--model_dir=/x")
    assert coretf_flags.job_from_flags(_parse("--class_weights=2,1", "--model_dir=/x")).config.class_weights == (2.0, 1.0)


def test_configurations_round_trip_through_json():
    config = RockConfig(rock_train_stacks=("a", "b"), filters=(4, 8))
    assert RockConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="unknown settings \\['colour'\\]"):
        RockConfig.from_dict({**config.to_dict(), "colour": 1})
    with pytest.raises(ValueError, match="--learning_rate=inf: must be a finite number"):
        CoresConfig(learning_rate=float("inf"))
