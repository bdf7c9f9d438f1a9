"""A version being published holds up nobody else: other datasets are read, listed and published meanwhile, and
two publishes of one dataset still get one version number each."""
from __future__ import annotations

import os
import threading

import pyarrow as pa
import pytest

from mock_server.datasets import store as dataset_store
from mock_server.datasets.store import DatasetStore
from mock_server.errors import EngineError


@pytest.fixture
def store(tmp_path):
    opened = DatasetStore(str(tmp_path), "root")
    yield opened
    opened.close()


def test_a_slow_publish_does_not_block_other_datasets(store, monkeypatch):
    store.publish("root", "other", pa.table({"x": [1]}), create=True)
    writing, release = threading.Event(), threading.Event()
    real_sha256 = dataset_store._file_sha256

    def slow_sha256(path):  # a large version: its file takes seconds to write and verify
        if os.path.basename(path).startswith("big."):
            writing.set()
            release.wait(10)
        return real_sha256(path)

    monkeypatch.setattr(dataset_store, "_file_sha256", slow_sha256)
    publisher = threading.Thread(target=store.publish, args=("root", "big", pa.table({"x": [2]}), True))
    publisher.start()
    try:
        assert writing.wait(10)
        done = threading.Event()

        def others():
            store.read("root", "other")
            store.visible("root")
            store.publish("root", "other", pa.table({"x": [3]}), create=False)
            done.set()
        threading.Thread(target=others, daemon=True).start()
        assert done.wait(5), "reading, listing or publishing another dataset waited for the slow publish"
    finally:
        release.set()
        publisher.join(10)
    assert store._info("big").version == 1 and store._info("other").version == 2


def test_concurrent_publishes_of_one_dataset_get_one_version_each(store):
    store.publish("root", "same", pa.table({"x": [0]}), create=True)
    errors = []

    def update(value):
        try:
            store.publish("root", "same", pa.table({"x": [value]}), create=False)
        except EngineError as exc:  # pragma: no cover - reported below
            errors.append(exc)
    threads = [threading.Thread(target=update, args=(i,)) for i in range(1, 9)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors and store._info("same").version == 9 and store._info("same").versions == 9


def test_concurrent_creates_of_one_name_make_one_dataset(store):
    outcomes = []

    def create(value):
        try:
            store.publish("root", "raced", pa.table({"x": [value]}), create=True)
            outcomes.append("created")
        except EngineError as exc:
            outcomes.append(exc.code.name)
    threads = [threading.Thread(target=create, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(outcomes) == ["ALREADY_EXISTS"] * 5 + ["created"] and store._info("raced").versions == 1
