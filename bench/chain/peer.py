#!/usr/bin/env python3
"""The FineWeb-style chain in datatrove, for bench/chain/run.sh.

    peer.py WARC_FOLDER OUTPUT_FOLDER LID_MODEL

One task, one worker, in this process: WarcReader, Trafilatura (favour_precision, as
FineWeb; a 10 s timeout instead of 1 s so that a loaded machine does not drop pages),
LanguageFilter labelling only with the given fastText model (the `lid.176.ftz` atelier
bundles, instead of downloading `lid.176.bin`), GopherRepetitionFilter,
GopherQualityFilter, C4QualityFilter without the terminal-punctuation rule,
FineWebQualityFilter, JsonlWriter (gzip). Prints one JSON line: documents read and
written, wall and CPU seconds (this process and its extraction sandbox), and each
step's time from datatrove's own stats.
"""
import json
import os
import resource
import sys
import time

from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.extractors import Trafilatura
from datatrove.pipeline.filters import (
    C4QualityFilter,
    FineWebQualityFilter,
    GopherQualityFilter,
    GopherRepetitionFilter,
    LanguageFilter,
)
from datatrove.pipeline.readers import WarcReader
from datatrove.pipeline.writers import JsonlWriter
from datatrove.utils.lid import FT176LID


class LocalLID(FT176LID):
    """fastText's lid.176 read from a local file (loaded in the worker, not pickled)."""

    def __init__(self, path):
        super().__init__()
        self.path = path

    @property
    def model(self):
        if self._model is None:
            from fasttext.FastText import _FastText

            self._model = _FastText(self.path)
        return self._model


def main():
    warcs, out, model = sys.argv[1:4]
    language = LanguageFilter(label_only=True)
    language.model = LocalLID(model)
    pipeline = [
        WarcReader(warcs, glob_pattern="*.warc.gz"),
        Trafilatura(favour_precision=True, timeout=10),
        language,
        GopherRepetitionFilter(),
        GopherQualityFilter(),
        C4QualityFilter(filter_no_terminal_punct=False),
        FineWebQualityFilter(),
        JsonlWriter(os.path.join(out, "output")),
    ]
    executor = LocalPipelineExecutor(
        pipeline, tasks=1, workers=1, logging_dir=os.path.join(out, "logs")
    )
    start = time.time()
    stats = executor.run()
    wall = time.time() - start
    usage = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    cpu = sum(u.ru_utime + u.ru_stime for u in usage)
    steps = []
    for step in stats.stats:
        steps.append(
            {
                "name": step.name,
                "seconds": step.time_stats.total,
                "stats": {k: v.total for k, v in step.stats.items()},
            }
        )
    read = steps[0]["stats"].get("documents", 0)
    written = steps[-1]["stats"].get("total", 0)
    print(json.dumps({"read": read, "written": written, "wall": wall, "cpu": cpu, "steps": steps}))


if __name__ == "__main__":
    main()
