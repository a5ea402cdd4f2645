"""What a resumed run must agree with: the settings a resume may change, declared once.

``vemd fit --resume`` goes on from the states a killed run left. Its steps are those the
interrupted run would have taken only if it trains under the same settings, so every trained
stage records a *fingerprint* of them (:func:`stage_setting`: the stage and the config but for
:data:`RESUMABLE`, as JSON) and a resume under other settings is refused, in one line naming
what changed, before anything of the run is written (:func:`refuse_other_settings`).

:data:`RESUMABLE` is the one list of the settings a resumed run may change, whatever it trains
(VE-MD with Lightning, the multimodal branches, the seed systems' stages): where things are, how
long to train, how often to save or log, how many loader workers.

Fingerprints are compared setting by setting (:func:`setting_changes`), not as strings, so a
state written by an earlier vemd still resumes: a setting it did not have is no change while it
holds its default (new settings default to the behaviour that came before them), and a setting
an earlier vemd fingerprinted that is now resumable is not compared.
"""

from __future__ import annotations

import json
from pathlib import Path

from vemd.config import Config, to_dict
from vemd.errors import ConfigError, VemdError
from vemd.io import load_weights_only

# Settings a resumed run may change. Any other change would make the resumed steps differ from
# the ones the interrupted run would have taken.
RESUMABLE = frozenset(
    {
        "data.root",
        "data.annotations",
        "train.out_dir",
        "train.stage",
        "train.stage1_ckpt",
        "train.num_workers",
        "train.max_epochs",
        "train.max_steps",
        "train.max_time_minutes",
        "train.checkpoint_every_n_steps",
        "train.log_every_n_steps",
        "train.logger",
        "train.early_stopping_patience",
        "train.feature_cache",
        "multimodal.video_model",
        "multimodal.text.embeddings",
    }
)


def flat(tree: dict, prefix: str = "") -> dict:
    """A nested config mapping as {dotted key: value} (an empty mapping stays one value)."""
    out = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        out |= flat(value, f"{name}.") if isinstance(value, dict) and value else {name: value}
    return out


def fingerprint_tree(cfg: Config, ignore: tuple[str, ...] = ()) -> dict:
    """The config as a nested mapping, without the :data:`RESUMABLE` settings (nor ``ignore``)."""
    tree = to_dict(cfg)
    for key in (*RESUMABLE, *ignore):
        *path, name = key.split(".")
        node = tree
        for part in path:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(name, None)
    return tree


def stage_setting(cfg: Config, stage: str, *, ignore: tuple[str, ...] = ()) -> str:
    """The fingerprint of a trained stage: what its state depends on (the stage and the config
    but for settings that do not change training, and the settings in ``ignore`` that do not
    change this stage, e.g. the fusion for a branch trained alone), as JSON."""
    tree = fingerprint_tree(cfg, ignore)
    return json.dumps({"stage": stage, "config": tree}, sort_keys=True, default=str)


def changed_settings(saved: dict | None, current: dict) -> list[tuple[str, object, object]]:
    """(dotted key, saved value, current value) of every setting outside :data:`RESUMABLE` that
    differs between two config mappings; a missing saved config has nothing to compare. A setting
    the saved config lacks is no change while it holds its default (module docstring)."""
    if not isinstance(saved, dict):
        return []
    old, new, default = flat(saved), flat(current), flat(to_dict(Config()))
    keys = sorted((old.keys() | new.keys()) - RESUMABLE)
    return [
        (k, old.get(k), new.get(k))
        for k in keys
        if old.get(k) != new.get(k) and not (k not in old and k in default and new.get(k) == default[k])
    ]


def setting_changes(saved: str, current: str) -> list[tuple[str, object, object]]:
    """What differs between two fingerprints (:func:`stage_setting`); a saved fingerprint that is
    not one (damaged, or of another vemd) differs as a whole, under the key ``setting``."""
    if saved == current:
        return []
    try:
        old, new = json.loads(saved), json.loads(current)
        old_stage, old_cfg, new_stage, new_cfg = old["stage"], old["config"], new["stage"], new["config"]
    except (TypeError, ValueError, KeyError):
        return [("setting", "(unreadable)", "(this run's)")]
    stage = [("stage", old_stage, new_stage)] if old_stage != new_stage else []
    return stage + changed_settings(old_cfg if isinstance(old_cfg, dict) else {}, new_cfg)


def describe(changed: list[tuple[str, object, object]], shown: int = 3) -> str:
    """``key: old → new, …`` of the first ``shown`` changes, and how many more."""
    text = ", ".join(f"{key}: {old!r} → {new!r}" for key, old, new in changed[:shown])
    return text + (f" and {len(changed) - shown} more" if len(changed) > shown else "")


def refuse_other_settings(cfg: Config, folder: str | Path) -> None:
    """Stop a resume whose saved stages were trained under other settings before anything of the
    run is written (its config.yaml still describes its model.pt). Each stage's state lives in
    ``<folder>/<stage>/state.pt`` (:func:`vemd.train.epochs.train_epochs`)."""
    for state in sorted(Path(folder).glob("*/state.pt")):
        load_state(state, stage_setting(cfg, state.parent.name))


def load_state(path: Path, setting: str) -> dict | None:
    """The saved state of a stage (:func:`vemd.train.epochs.save_state`), None when there is none;
    one-line errors for a file that is not one and for a state trained under other settings."""
    if not path.exists():
        return None
    try:
        state = load_weights_only(path)
        saved = state["setting"]
    except Exception as err:  # torch raises several types for damaged or crafted files
        raise VemdError(
            f"{path}: not a state vemd fit wrote ({type(err).__name__}); delete it to retrain"
        ) from None
    changed = setting_changes(saved, setting)
    if changed:
        raise ConfigError(
            f"{path}: trained with other settings ({describe(changed)}); resume with the same settings "
            "or train into another train.out_dir"
        )
    return state
