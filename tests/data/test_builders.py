"""coretf.data.builders: registration by name, the manual-folder refusal in each dataset's words."""

import pytest

from coretf.data import builders


def test_dataset_names_are_the_installed_builders():
    assert builders.dataset_names() == ["ice_ct", "rock_ct", "sediment_cores", "sediment_grains"]


@pytest.mark.parametrize("name, items", [("sediment_cores", "sections"), ("sediment_grains", "photo sets"),
                                         ("ice_ct", "specimens"), ("rock_ct", "stacks")])
def test_manual_config_without_folder_says_what_it_reads(tmp_path, name, items):
    with pytest.raises(ValueError, match=f"^config 'manual' reads a lab's {items}: pass --manual_dir$"):
        builders.get_builder(name, "manual", str(tmp_path))
    assert not any(tmp_path.iterdir())  # refused before anything was written


def test_unknown_dataset_lists_the_known_ones(tmp_path):
    with pytest.raises(ValueError, match="unknown dataset 'sediment_core'; coretf has ice_ct, rock_ct, "
                                         "sediment_cores, sediment_grains"):
        builders.get_builder("sediment_core", "synthetic", str(tmp_path))
