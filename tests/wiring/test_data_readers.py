"""The user's data: CIFAR binary files, image folders, arrays and torch datasets, written by the tests in the
official layouts; splits read on demand behave as tensors; bad files are named."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from wiring.data import DataError, Images, cifar, from_arrays, from_torch, image_folder, load_dataset
from wiring.data.images import ArrayImages, take


def write_cifar10(root, per_file: int = 20, test: int = 10, seed: int = 0) -> dict[bytes, int]:
    """The official layout (``cifar-10-batches-bin``); returns pixels -> label of every record written."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-bin"
    folder.mkdir()
    truth = {}
    for name, n in [*((f"data_batch_{i}.bin", per_file) for i in range(1, 6)), ("test_batch.bin", test)]:
        labels = np.arange(n) % 10
        pixels = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        (folder / name).write_bytes(np.concatenate([labels[:, None].astype(np.uint8), pixels], 1).tobytes())
        if name != "test_batch.bin":
            truth.update({p.tobytes(): int(y) for p, y in zip(pixels, labels)})
    return truth


def test_cifar10_binary_records_become_images_and_labels(tmp_path):
    truth = write_cifar10(tmp_path)
    data = load_dataset("cifar10", path=tmp_path, val_fraction=0.2)
    assert (len(data.y_train), len(data.y_val), len(data.y_test)) == (80, 20, 10)
    assert data.input_shape == (3, 32, 32) and data.num_classes == 10 and data.streamed
    for x, y in ((data.x_train, data.y_train), (data.x_val, data.y_val)):
        batch = x[torch.arange(len(y))]
        assert batch.dtype == torch.float32 and batch.shape == (len(y), 3, 32, 32)
        for image, label in zip(batch, y.tolist()):
            key = np.round(image.numpy().reshape(-1) * 255).astype(np.uint8).tobytes()
            assert truth[key] == label  # right pixels with the right label, channels in CHW order
    assert set(data.y_val.tolist()) == set(range(10))  # stratified
    direct = load_dataset("cifar10", path=tmp_path / "cifar-10-batches-bin", val_fraction=0.2)
    assert torch.equal(direct.x_train[:], data.x_train[:])


def test_cifar100_fine_and_coarse_labels(tmp_path):
    folder = tmp_path / "cifar-100-binary"
    folder.mkdir()
    for name, n in (("train.bin", 200), ("test.bin", 40)):
        fine, coarse = np.arange(n) % 100, np.arange(n) % 20
        pixels = np.zeros((n, 3072), dtype=np.uint8)
        pixels[:, 0] = fine  # the first red pixel tells the fine label back
        rows = np.concatenate([coarse[:, None], fine[:, None], pixels], 1).astype(np.uint8)
        (folder / name).write_bytes(rows.tobytes())
    fine = load_dataset("cifar100", path=tmp_path, val_fraction=0.5)
    assert fine.num_classes == 100 and len(fine.y_test) == 40
    assert torch.equal((fine.x_train[:][:, 0, 0, 0] * 255).round().long(), fine.y_train)
    coarse = load_dataset("cifar100", path=tmp_path, val_fraction=0.5, label="coarse")
    assert coarse.num_classes == 20 and int(coarse.y_train.max()) == 19


def test_cifar_damaged_files_are_named(tmp_path):
    write_cifar10(tmp_path)
    folder = tmp_path / "cifar-10-batches-bin"
    victim = folder / "data_batch_3.bin"
    victim.write_bytes(victim.read_bytes()[:-1])
    with pytest.raises(DataError, match="data_batch_3.bin: 61459 bytes is not a whole number of 3073-byte records"):
        load_dataset("cifar10", path=tmp_path)
    victim.write_bytes(bytes([12]) + bytes(3072))
    with pytest.raises(DataError, match="data_batch_3.bin: record 0 has label 12"):
        load_dataset("cifar10", path=tmp_path)
    os.remove(folder / "test_batch.bin")
    with pytest.raises(DataError, match="missing test_batch.bin"):
        load_dataset("cifar10", path=tmp_path)
    with pytest.raises(DataError, match="no such file or directory"):
        load_dataset("cifar10", path=tmp_path / "nowhere")
    with pytest.raises(DataError, match="give path="):
        load_dataset("cifar10")
    with pytest.raises(DataError, match="test set of its own"):
        cifar(tmp_path, test_fraction=0.2)


def write_folder(root, sizes=((6, 5),) * 3, mode: str = "RGB", per_class: int = 4) -> None:
    rng = np.random.default_rng(0)
    for k, cls in enumerate(("cat", "dog", "emu")):
        (root / cls).mkdir(parents=True)
        for i in range(per_class):
            h, w = sizes[k]
            shape = (h, w) if mode == "L" else (h, w, 3)
            Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(root / cls / f"{i}.png")


def test_image_folder_reads_classes_in_sorted_order(tmp_path):
    write_folder(tmp_path)
    data = image_folder(tmp_path, val_fraction=0.25, test_fraction=0.25)
    assert data.num_classes == 3 and data.input_shape == (3, 6, 5)
    assert len(data.y_train) + len(data.y_val) + len(data.y_test) == 12
    x = data.x_train[:]
    assert x.shape == (len(data.y_train), 3, 6, 5) and 0 <= float(x.min()) and float(x.max()) <= 1
    index = int(np.flatnonzero(data.y_train.numpy() == 1)[0])
    path = data.x_train.paths[int(data.x_train.rows[index])]
    assert os.path.basename(os.path.dirname(path)) == "dog"
    pixels = np.asarray(Image.open(path)).transpose(2, 0, 1) / 255
    assert np.allclose(x[index].numpy(), pixels)


def test_image_folder_grey_resize_and_errors(tmp_path):
    write_folder(tmp_path / "grey", mode="L")
    assert image_folder(tmp_path / "grey", val_fraction=0.25).input_shape == (1, 6, 5)
    write_folder(tmp_path / "odd", sizes=((6, 5), (6, 5), (7, 5)))
    with pytest.raises(DataError, match=r"emu.0\.png: 5×7 pixels where .* has 5×6; give size="):
        image_folder(tmp_path / "odd")
    assert load_dataset("folder", path=tmp_path / "odd", size=4, val_fraction=0.25).input_shape == (3, 4, 4)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no class sub-directories"):
        image_folder(tmp_path / "empty")
    (tmp_path / "empty" / "cat").mkdir()
    with pytest.raises(DataError, match="cat: class folder holds no images"):
        image_folder(tmp_path / "empty")
    (tmp_path / "empty" / "cat" / "broken.png").write_bytes(b"not an image")
    with pytest.raises(DataError, match="broken.png: not a readable image"):
        image_folder(tmp_path / "empty")
    with pytest.raises(DataError, match="size must be"):
        image_folder(tmp_path / "grey", size=(0, 3))


def test_from_arrays_scales_uint8_and_adds_a_channel():
    x = np.arange(40 * 4 * 4, dtype=np.uint8).reshape(40, 4, 4)
    y = np.arange(40) % 4
    data = from_arrays(x, y)
    assert data.input_shape == (1, 4, 4) and data.num_classes == 4 and not data.streamed
    assert float(data.x_train.max()) <= 1
    with pytest.raises(DataError, match="labels must be a 1-d integer array"):
        from_arrays(x, y.astype(float))
    with pytest.raises(DataError, match="40 images but 39 labels"):
        from_arrays(x, y[:-1])
    with pytest.raises(DataError, match="NaN"):
        from_arrays(np.full((40, 1, 2, 2), np.nan, dtype=np.float32), y)


class Counting(torch.utils.data.Dataset):
    """A map-style dataset that counts the items it is asked for."""

    def __init__(self, n: int = 60, shape=(2, 3, 3), targets: bool = True) -> None:
        self.images = torch.rand(n, *shape)
        self.labels = torch.arange(n) % 3
        if targets:
            self.targets = self.labels.tolist()
        self.reads = 0

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i):
        self.reads += 1
        return self.images[i], self.labels[i]


def test_from_torch_streams_items_only_when_asked():
    source = Counting()
    data = from_torch(source)
    assert source.reads == 1  # the first item, for the shape; labels came from targets
    assert data.streamed and data.input_shape == (2, 3, 3) and data.num_classes == 3
    rows = data.x_train.rows[[0, 5]]
    batch = data.x_train[torch.tensor([0, 5])]
    assert source.reads == 3 and torch.equal(batch, source.images[rows])
    loader = torch.utils.data.DataLoader(Counting(targets=False))
    assert len(from_torch(loader).y_train) == len(data.y_train)  # labels read in one pass


class Stream(torch.utils.data.IterableDataset):
    def __iter__(self):
        yield torch.zeros(1, 2, 2), 0


def test_from_torch_refusals():
    with pytest.raises(DataError, match="map-style dataset"):
        from_torch(Stream())
    with pytest.raises(DataError, match="give test= too"):
        from_torch(Counting(), val=Counting())
    ragged = Counting()
    ragged.images = [torch.rand(2, 3, 3)] * 59 + [torch.rand(2, 4, 4)]
    data = from_torch(ragged, val=Counting(), test=Counting())
    with pytest.raises(DataError, match="item 59 is an image of shape \\(2, 4, 4\\)"):
        data.x_train[:]


def test_normalise_uses_training_statistics_only():
    rng = np.random.default_rng(1)
    x = rng.normal(3.0, 2.0, (400, 2, 4, 4)).astype(np.float32)
    data = from_arrays(x, np.arange(400) % 5, normalise=True)
    train = data.x_train
    assert np.allclose(train.mean((0, 2, 3)).numpy(), 0, atol=1e-5)
    assert np.allclose(train.std((0, 2, 3), unbiased=False).numpy(), 1, atol=1e-4)
    assert data.mean is not None and len(data.mean) == 2
    streamed = from_torch(Counting(), normalise=([0.5, 0.5], [0.25, 0.25]))
    rows = torch.as_tensor(streamed.x_train.rows[:4])
    assert torch.allclose(streamed.x_train[:4], (streamed.x_train.dataset.images[rows] - 0.5) / 0.25)
    given = from_torch(Counting(), val=Counting(), test=Counting(), normalise=True)  # statistics of train only
    train = given.x_train[:]
    assert np.allclose(train.mean((0, 2, 3)).numpy(), 0, atol=1e-5) and given.mean is not None
    assert torch.allclose(given.x_val[:2], (given.x_val.dataset.images[:2] - torch.tensor(given.mean)[:, None, None])
                          / torch.tensor(given.std)[:, None, None])
    with pytest.raises(DataError, match="2 finite means and 2 positive stds"):
        from_arrays(x, np.arange(400) % 5, normalise=([0.0], [1.0]))


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 30), picks=st.lists(st.integers(-30, 29), max_size=12), data=st.data())
def test_array_images_index_as_the_tensor_does(n, picks, data):
    tensor = torch.rand(n, 1, 2, 2)
    images = ArrayImages(tensor.numpy(), np.arange(n), "test")
    picks = [p for p in picks if -n <= p < n]
    assert torch.equal(images[torch.tensor(picks, dtype=torch.long)], tensor[torch.tensor(picks, dtype=torch.long)])
    start = data.draw(st.integers(-n, n))
    assert torch.equal(images[start:], tensor[start:])
    subset = take(images, np.array(picks, dtype=np.int64))
    assert isinstance(subset, Images) and torch.equal(subset[:], tensor[picks])
    with pytest.raises(DataError, match="out of range"):
        images[torch.tensor([n])]
