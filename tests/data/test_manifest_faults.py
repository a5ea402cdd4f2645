"""The generic layout (``manifest.csv`` + ``classes.json``) with bad rows and bad files, and the
frame count of a ``vemd synth`` set, through ``vemd data check``, the loaders and ``data.skip_bad``."""

from __future__ import annotations

import json

import pytest
from layouts import make_synth

from vemd.cli import main
from vemd.config import load_config
from vemd.data.loaders import load_index
from vemd.data.manifest import read_manifest
from vemd.errors import DataError

ROWS = "clip_id,split,label,path\n"


def check(args, capsys) -> tuple[int, list[str], str]:
    code = main(["data", "check", *args])
    captured = capsys.readouterr()
    return code, [line for line in captured.out.splitlines() if line.startswith("[")], captured.err


def with_bad_rows(root):
    """make_synth's copy plus an unknown label, an empty label and a missing file in train."""
    manifest = root / "manifest.csv"
    manifest.write_text(
        manifest.read_text()
        + "b1,train,angry,items/s0.png\nb2,train,,items/s0.png\nb3,train,pos,items/gone.png\n"
    )
    return manifest


def test_bad_labels_are_problems_among_others_and_the_other_checks_run(tmp_path, capsys):
    root = make_synth(tmp_path)
    manifest = with_bad_rows(root)
    assert main(["data", "check", "synth", str(root), "--set", "data.frames=2", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["counts"]["train"] == {"neg": 1, "pos": 3} and report["counts"]["val"] == {"neg": 1}
    problems = sorted((p["kind"], p["path"], p["message"]) for p in report["problems"])
    assert problems == [
        ("index", f"{manifest}:7", "label 'angry' is not one of ['neg', 'pos']"),
        ("index", f"{manifest}:8", "label '' is not one of ['neg', 'pos']"),
        ("unreadable", str(root / "items" / "gone.png"), "no such file or folder"),
    ]


def test_skip_bad_leaves_bad_labels_out_and_strict_reading_names_the_line(tmp_path, caplog):
    root = make_synth(tmp_path)
    manifest = with_bad_rows(root)
    cfg = load_config(None, ["data.name=synth", f"data.root={root}"]).data
    with pytest.raises(DataError, match=f"^{manifest}:7: label 'angry'"):
        load_index(cfg, "train")
    cfg.skip_bad = True
    with caplog.at_level("WARNING", logger="vemd.data.loaders"):
        index = load_index(cfg, "train")
    assert [r.clip_id for r in index.records] == ["s0", "s1", "s2", "b3"]
    assert [
        r.getMessage() for r in caplog.records if "2 bad item(s) skipped in split 'train'" in r.getMessage()
    ]
    assert [r.clip_id for r in load_index(cfg, "val").records] == ["v0"]  # train's bad rows are not val's


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("clip_id,label,path\nx,neg,a.png\n", "missing columns ['split']"),
        (b"\x00\x01\x02binary\xff\xfe" * 20, "unreadable manifest"),
        ("clip_id,split,label,path\nx,train,n\xe9g,a.png\n".encode("latin-1"), "unreadable manifest"),
        (ROWS + "x,train,neg\n", "manifest.csv:2: empty or missing field"),
        (ROWS + "x,train,neg,a.png\nx,train,pos,b.png\n", "manifest.csv:3: duplicate clip_id 'x'"),
    ],
)
def test_broken_manifest_is_one_line_naming_it(tmp_path, capsys, content, expected):
    root = make_synth(tmp_path)
    path = root / "manifest.csv"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(DataError) as err:
        read_manifest(root)
    assert str(err.value).startswith(str(path)) and expected in str(err.value) and "\n" not in str(err.value)
    code, _, err_text = check(["synth", str(root)], capsys)
    assert code == 1 and "Traceback" not in err_text


@pytest.mark.parametrize(
    "content", [b"\x89PNG\x00\xff", b'{"class_names": "negpos"}', b'{"names": []}', b"[1, 2]"]
)
def test_broken_class_list_is_one_line_naming_it(tmp_path, content):
    root = make_synth(tmp_path)
    (root / "classes.json").write_bytes(content)
    with pytest.raises(DataError, match=f"^{root / 'classes.json'}: "):
        read_manifest(root)


def test_data_check_of_a_synth_set_uses_the_frame_count_it_records(tmp_path, capsys):
    from vemd.synth.generate import generate_dataset

    root = generate_dataset(
        tmp_path / "sg", progress=False, n_train=4, n_val=1, n_test=1, frames=1, image_size=32
    )
    code, lines, _ = check(["synth", str(root)], capsys)
    assert (code, lines) == (0, [])
    code, lines, _ = check(["synth", str(root), "--set", "data.frames=3"], capsys)  # --set still wins
    assert code == 1 and len(lines) == 6 and all(line.startswith("[short]") for line in lines)
    (root / "dataset.json").write_bytes(b"\x00\xff")
    assert main(["data", "check", "synth", str(root)]) == 1
    assert "dataset.json: unreadable dataset record" in capsys.readouterr().err
