"""SynthGroups: procedural group scenes with drawn people, exact annotations and a group label.

``generate_dataset(out, n_train=..., n_val=..., frames=..., seed=...)`` writes a dataset in the
generic layout (:mod:`vemd.data.manifest`); the group rule is in :mod:`vemd.synth.group`, the
valence/arousal targets of ``va=True`` in :mod:`vemd.synth.affect`, the recurring people of
``identities=K`` in :mod:`vemd.synth.identity` and their audit folders in :mod:`vemd.synth.identity_sets`.
"""

from vemd.synth.generate import SynthOptions, generate_dataset, make_clip
from vemd.synth.group import CLASS_NAMES, group_label

__all__ = ["CLASS_NAMES", "SynthOptions", "generate_dataset", "group_label", "make_clip"]
