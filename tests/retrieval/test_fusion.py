"""Score fusion: dense order kept unless the words decisively single out a passage."""

from __future__ import annotations

import pytest

from assistant.retrieval.fusion import FusionParams, fuse


def test_without_lexical_weight_the_dense_order_is_kept() -> None:
    dense = [("a", 0.9), ("b", 0.85), ("c", 0.8)]
    lexical = [("c", 12.0), ("b", 1.0)]
    fused = fuse(dense, lexical, FusionParams(lexical_weight=0.0))
    assert [k for k, _ in fused] == ["a", "b", "c"]


def test_a_decisive_lexical_hit_moves_up_an_undecided_one_does_not() -> None:
    dense = [("a", 0.900), ("b", 0.895)]
    params = FusionParams(lexical_weight=0.02, adaptive=True)
    decisive = fuse(dense, [("b", 10.0), ("a", 1.0)], params)
    assert decisive[0][0] == "b"
    undecided = [("b", 10.0), ("c", 9.9)]  # margin ≈ 0.01: the words single out nothing
    assert fuse(dense, undecided, params)[0][0] == "a"
    flat = fuse(dense, undecided, FusionParams(0.02, adaptive=False))
    assert flat[0][0] == "b"


def test_english_questions_use_their_own_weight() -> None:
    dense = [("a", 0.90), ("b", 0.895)]
    lexical = [("b", 10.0)]
    params = FusionParams(lexical_weight=0.05, lexical_weight_en=0.0)
    assert fuse(dense, lexical, params, "sv")[0][0] == "b"
    assert fuse(dense, lexical, params, "en")[0][0] == "a"


def test_lexical_only_passages_start_from_the_dense_floor() -> None:
    fused = dict(fuse([("a", 0.9), ("b", 0.8)], [("z", 5.0)], FusionParams(0.02, adaptive=False)))
    assert fused["z"] == pytest.approx(0.8 + 0.02)


def test_the_best_sentence_is_blended_in_by_its_share_per_language() -> None:
    dense = [("a", 0.90), ("b", 0.88), ("c", 0.87)]
    sentences = {"a": 0.80, "b": 0.95}  # c has no sentence vectors: keeps its cosine
    params = FusionParams(0.0, 0.0, sentence_weight=0.5, sentence_weight_en=0.0)
    fused = dict(fuse(dense, [], params, "sv", sentences))
    assert fused == pytest.approx({"a": 0.85, "b": 0.915, "c": 0.87})
    assert [k for k, _ in fuse(dense, [], params, "sv", sentences)] == ["b", "c", "a"]
    assert [k for k, _ in fuse(dense, [], params, "en", sentences)] == ["a", "b", "c"]


def test_lexical_only_passages_start_from_the_blended_floor() -> None:
    params = FusionParams(0.02, adaptive=False, sentence_weight=0.5)
    fused = dict(fuse([("a", 0.9), ("b", 0.8)], [("z", 5.0)], params, "sv",
                      {"a": 0.9, "b": 0.6}))
    assert fused["z"] == pytest.approx(0.7 + 0.02)


def test_params_come_from_the_calibration_and_reject_typos() -> None:
    params = FusionParams.from_calibration()
    assert params.weight("en") == params.lexical_weight_en
    with pytest.raises(ValueError, match="okända"):
        FusionParams.from_calibration({"retrieval": {"lexcial_weight": 1}})
