#!/usr/bin/env bash
# Makes the fasttext-cli.* fixtures with the real fastText 0.9.2 command line (Debian's
# `fasttext` package: apt-get install fasttext), run from this folder:
#
#   fasttext-cli.txt, fasttext-cli.test.txt   training and test lines (made here)
#   fasttext-cli.bin, .vec, .output           `fasttext supervised ... -saveOutput`
#   fasttext-cli.ftz                          `fasttext quantize -cutoff 300 -retrain`
#   fasttext-cli.ftz.vec                      what saveVectors writes for the .ftz model
#                                             (its header, then print-word-vectors)
#   fasttext-cli.expected                     fastText's test, test-label and
#                                             predict-prob outputs on both models
#
# crates/fasttext/tests/fasttext/vectors.rs checks that atelier writes the same .vec and
# .output bytes from the same models; crates/cli/tests/cli/classifier.rs that `atelier
# classifier` prints the same test and predict-prob outputs.
set -euo pipefail
cd "$(dirname "$0")"
python3 - <<'PY'
import random
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
        out.append(f"__label__{topic} {' '.join(words)}\n")
    return out
open("fasttext-cli.txt", "w", encoding="utf-8").writelines(lines(600, 5))
open("fasttext-cli.test.txt", "w", encoding="utf-8").writelines(lines(100, 6))
PY
fasttext supervised -input fasttext-cli.txt -output fasttext-cli -dim 8 -epoch 5 -lr 0.5 \
  -wordNgrams 2 -minn 2 -maxn 4 -bucket 2000 -thread 1 -saveOutput -verbose 0
fasttext quantize -output fasttext-cli -input fasttext-cli.txt -qnorm -cutoff 300 -retrain \
  -thread 1 -verbose 0
words=$(mktemp)
fasttext dump fasttext-cli.ftz dict | awk 'NR > 1 && $3 == "word" { print $1 }' >"$words"
{ echo "$(wc -l <"$words") 8"; fasttext print-word-vectors fasttext-cli.ftz <"$words"; } \
  >fasttext-cli.ftz.vec
rm "$words"
{
  for model in fasttext-cli.bin fasttext-cli.ftz; do
    echo "== $model test 2 0.1"
    fasttext test "$model" fasttext-cli.test.txt 2 0.1
    echo "== $model test-label"
    fasttext test-label "$model" fasttext-cli.test.txt
    echo "== $model predict-prob - 2"
    fasttext predict-prob "$model" - 2 <fasttext-cli.test.txt
  done
} >fasttext-cli.expected
