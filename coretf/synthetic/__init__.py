"""Synthetic split-core section photographs with exact disturbance labels (Hutton 2025, §1.1.5)."""

from coretf.synthetic.cores import CLUSTER_MEANS_LAB
from coretf.synthetic.cores import DISTURBANCE_CODES
from coretf.synthetic.cores import SyntheticSection
from coretf.synthetic.cores import make_section
from coretf.synthetic.cores import section_mean_lab

__all__ = ["CLUSTER_MEANS_LAB", "DISTURBANCE_CODES", "SyntheticSection", "make_section",
           "section_mean_lab"]
