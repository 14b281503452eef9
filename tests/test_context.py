"""The process's objects: what a scan or the server starts ahead of the work that needs it."""

from __future__ import annotations

from station.context import prepare_reading
from station.settings import VisionSettings
from station.vision.isolation import shared_pool
from tests.helpers.decoders import rapidocr_loaded


def test_prepare_reading_loads_the_ocr_model_in_every_decoder_worker() -> None:
    settings = VisionSettings(decoder_workers=2)
    loaders = prepare_reading(settings)
    assert len(loaders) == 2
    for loader in loaders:
        loader.join(120)  # a safety net only: each join returns when its model is loaded
        assert not loader.is_alive()
    # the pool the loaders used is the one a scan reads with; idle workers are lent in
    # turn, so two calls reach both workers
    pool = shared_pool(settings.decoder_workers, settings.decoder_timeout_s)
    answers = [pool.run("probe", rapidocr_loaded).value for _ in range(2)]
    assert answers == [True, True]


def test_prepare_reading_starts_nothing_without_isolated_ocr() -> None:
    assert prepare_reading(VisionSettings(ocr_enabled=False)) == []
    assert prepare_reading(VisionSettings(isolate_decoders=False)) == []
    assert prepare_reading(VisionSettings(ocr_engine="tesseract")) == []
    assert prepare_reading(VisionSettings(preload_ocr=False)) == []
