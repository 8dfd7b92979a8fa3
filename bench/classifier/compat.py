"""Compatibility fixtures: models written by official fastText (PyPI fasttext-wheel
0.9.2) and by atelier, with fastText's own predictions on them.

    python3 compat.py ATELIER_BINARY OUT_DIR

Writes OUT_DIR/{fasttext,atelier}.{bin,ftz} and OUT_DIR/compat.json. The Rust test
crates/fasttext/tests/fasttext/compat.rs checks that atelier predicts exactly what fastText
predicted on each of them: fastText reads atelier's files, atelier reads fastText's.
Run from anywhere; needs `pip install fasttext-wheel "numpy<2"`.
"""

import json
import os
import random
import subprocess
import sys
import tempfile

import fasttext

TOPICS = {
    "sport": "match goal team score coach league player stadium referee season".split(),
    "food": "recipe bake oven flour sugar dinner taste crème brûlée café".split(),
    "tech": "laptop kernel compile server network code chip byte cloud écran".split(),
}
FILLER = "the a of and to is it we you on with for this that very".split()


def lines(n, seed):
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        topic = rng.choice(sorted(TOPICS))
        words = [rng.choice(TOPICS[topic]) if rng.random() < 0.35 else rng.choice(FILLER)
                 for _ in range(rng.randint(3, 12))]
        out.append((topic, " ".join(words)))
    return out


def main():
    atelier, out = sys.argv[1:3]
    os.makedirs(out, exist_ok=True)
    tmp = tempfile.mkdtemp()
    train = os.path.join(tmp, "train.txt")
    with open(train, "w", encoding="utf-8") as f:
        for topic, text in lines(3000, 1):
            f.write(f"__label__{topic} {text}\n")
    test = lines(60, 2) + [("sport", "goaltender stadiums"), ("food", "crèmes brûlées"),
                           ("tech", ""), ("food", "   "), ("tech", "unseenword another")]
    hyper = dict(dim=8, epoch=5, lr=0.5, wordNgrams=2, minn=2, maxn=4, bucket=2000)

    ft = fasttext.train_supervised(input=train, thread=1, verbose=0, seed=1, **hyper)
    ft.save_model(os.path.join(out, "fasttext.bin"))
    ft.quantize(input=train, qnorm=True, cutoff=1000, retrain=False, thread=1)
    ft.save_model(os.path.join(out, "fasttext.ftz"))

    subprocess.run([atelier, "classifier", "train", "--input", train, "--output",
                    os.path.join(out, "atelier.bin"), "--threads", "1", "--seed", "1", "-q",
                    "--dim", "8", "--epoch", "5", "--lr", "0.5", "--word-ngrams", "2",
                    "--minn", "2", "--maxn", "4", "--bucket", "2000"], check=True)
    subprocess.run([atelier, "classifier", "quantize", os.path.join(out, "atelier.bin"),
                    "--input", train, "--cutoff", "1000", "--retrain", "--qnorm",
                    "--threads", "1"], check=True)

    models = {}
    for name in ("fasttext.bin", "fasttext.ftz", "atelier.bin", "atelier.ftz"):
        m = fasttext.FastText._FastText(os.path.join(out, name))
        preds = []
        for _, text in test:
            # What model.predict(text, k=-1) computes; the low-level call avoids numpy.
            preds.append([[label, prob] for prob, label in m.f.predict(text + "\n", -1, 0.0, "strict")])
        testfile = os.path.join(tmp, "test.txt")
        with open(testfile, "w", encoding="utf-8") as f:
            for topic, text in test:
                f.write(f"__label__{topic} {text}\n")
        n, p, r = m.test(testfile)
        models[name] = {"predictions": preds, "test": {"N": n, "P@1": p, "R@1": r}}
    json.dump({"fasttext": fasttext.__version__ if hasattr(fasttext, "__version__") else "0.9.2",
               "lines": [text for _, text in test], "labels": [t for t, _ in test],
               "models": models}, open(os.path.join(out, "compat.json"), "w"), indent=1,
              ensure_ascii=False)
    print("wrote", out)


if __name__ == "__main__":
    main()
