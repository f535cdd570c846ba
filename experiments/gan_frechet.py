# usage: python experiments/gan_frechet.py RUN_DIR... (each a finished gan run with its cached DCGAN)
"""Run the GAN search of each finished gan run again: the DCGAN comes from its cache, the trained-feature
Fréchet stage runs and writes gan_frechet.json (no classifier run is retrained)."""

import json
import sys
from pathlib import Path

from augkit.runs import TrainConfig, build_run_strategy, prepare_data, with_added_defaults

for rdir in map(Path, sys.argv[1:]):
    cfg = TrainConfig(**with_added_defaults(json.loads((rdir / "config.json").read_text())))
    ds = prepare_data(cfg)
    build_run_strategy(cfg, ds, rdir, progress=False)
    print(rdir, json.loads((rdir / "gan_frechet.json").read_text())["trained_features"])
