"""Tiny randomly initialised BERT models, built and saved by the tests themselves.

They exercise the real ``transformers`` loading and inference path (config, safetensors
weights, a fast WordPiece tokenizer from a local ``vocab.txt``) in milliseconds; their outputs
are meaningless, so tests assert structure and ranges, never meaning.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

#: CoNLL-2003 BIO labels, as dslim/bert-base-NER has them.
CONLL_LABELS: tuple[str, ...] = ("O", "B-MISC", "I-MISC", "B-PER", "I-PER", "B-ORG", "I-ORG",
                                 "B-LOC", "I-LOC")
#: The classes of tabularisai/multilingual-sentiment-analysis.
SENTIMENT5: tuple[str, ...] = ("Very Negative", "Negative", "Neutral", "Positive",
                               "Very Positive")

_SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def _vocab(texts: Sequence[str]) -> list[str]:
    words = sorted({w for t in texts for w in re.findall(r"\w+|[^\w\s]", t.lower())})
    return [*_SPECIAL, *words]


def _config(n_vocab: int, labels: Sequence[str], seed: int) -> Any:
    import torch
    from transformers import BertConfig

    torch.manual_seed(seed)
    return BertConfig(vocab_size=n_vocab, hidden_size=16, num_hidden_layers=1,
                      num_attention_heads=2, intermediate_size=32, max_position_embeddings=64,
                      id2label=dict(enumerate(labels)),
                      label2id={lab: i for i, lab in enumerate(labels)})


def _save(path: Path, model: Any, vocab: list[str]) -> Path:
    import transformers

    path.mkdir(parents=True, exist_ok=True)
    (path / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    # the fast (Rust) WordPiece tokenizer: BertTokenizerFast in transformers 4, BertTokenizer in 5
    fast = getattr(transformers, "BertTokenizerFast", None) or transformers.BertTokenizer
    tok = fast(vocab_file=str(path / "vocab.txt"), do_lower_case=True)
    tok.save_pretrained(path)
    model.save_pretrained(path)
    return path


def tiny_token_classifier(path: Path, texts: Sequence[str],
                          labels: Sequence[str] = CONLL_LABELS, seed: int = 0) -> Path:
    """Save a tiny ``BertForTokenClassification`` (+ tokenizer) under ``path``."""
    from transformers import BertForTokenClassification

    vocab = _vocab(texts)
    return _save(path, BertForTokenClassification(_config(len(vocab), labels, seed)), vocab)


def tiny_sequence_classifier(path: Path, texts: Sequence[str],
                             labels: Sequence[str] = SENTIMENT5, seed: int = 0) -> Path:
    """Save a tiny ``BertForSequenceClassification`` (+ tokenizer) under ``path``."""
    from transformers import BertForSequenceClassification

    vocab = _vocab(texts)
    return _save(path, BertForSequenceClassification(_config(len(vocab), labels, seed)), vocab)
