"""The command line on the user's files: --data PATH (a CIFAR binary directory, an image folder) with --dataset,
inferred when left out; bad combinations are one line naming the flags."""

from __future__ import annotations

import pytest

from wiring.cli import main

from test_data_readers import write_cifar10, write_folder


def test_train_on_a_cifar_directory_inferred_from_its_files(tmp_path, capsys):
    write_cifar10(tmp_path)
    code = main(["train", "--randwire", "cifar", "--channels", "4", "--nodes", "6", "--data", str(tmp_path),
                 "--epochs", "1", "--quiet"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "Dataset('cifar10', train=85, val=15, test=10, input_shape=(3, 32, 32), num_classes=10)" in out


def test_search_on_an_image_folder(tmp_path, capsys):
    write_folder(tmp_path / "pets", per_class=6)
    code = main(["search", "--space", "nasbench201", "--strategy", "randomsearch", "--budget", "2", "--epochs", "1",
                 "--dataset", "folder", "--data", str(tmp_path / "pets"), "--image-size", "8"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "2 trials: 2 complete, 0 failed" in captured.out  # the space is built for the folder's 3 classes


def test_one_shot_search_on_an_image_folder(tmp_path, capsys):
    write_folder(tmp_path / "pets", per_class=6)
    code = main(["search", "--space", "nasbench201", "--strategy", "darts", "--epochs", "1", "--data",
                 str(tmp_path / "pets"), "--image-size", "8", "--param", "batch_size=4"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "darts (DARTS) on nasbench201: folder, 12 training examples" in captured.out


@pytest.mark.parametrize("argv, needle", [
    (["--dataset", "cifar10"], "--dataset cifar10 reads files: give --data PATH"),
    (["--dataset", "digits", "--data", "."], "digits is embedded and reads no files"),
    (["--image-size", "8"], "--image-size applies to --dataset folder, not digits"),
    (["--dataset", "cifar100", "--data", "/nowhere"], "/nowhere: no such file or directory"),
])
def test_bad_data_flags_are_one_line(argv, needle, capsys):
    code = main(["train", "--randwire", "cifar", "--epochs", "1", "--quiet", *argv])
    err = capsys.readouterr().err
    assert code == 2 and needle in err and len(err.strip().splitlines()) == 1, err
