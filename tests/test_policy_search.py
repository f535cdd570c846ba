"""Policy searches (issue 14): AutoAugment (controller + PPO), RandAugment grid, Fast AutoAugment.

Tiny budgets on scikit-learn's digits: every search runs end to end, writes a policy that
replays bit for bit, resumes without re-running finished trials, and gives the same policy for
the same seed; the Ray backend gives the same trials as the in-process one.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import augkit as ak
from augkit.adversarial.controller import Controller
from augkit.cli import main
from augkit.policy_search import run_policy_search
from augkit.policy_search.autoaugment import AA_TOKEN_SIZES, decode_policy, ppo_step
from augkit.policy_search.fast_autoaugment import candidate_error, fold_split
from augkit.runs import TrainConfig
from augkit.strategies import build_strategy

TINY = TrainConfig(dataset="digits", subset=200, val=100, epochs=2, threads=1)


def _search(name: str, out: Path, options: str, cfg: TrainConfig = TINY, **kw) -> dict:
    backend = kw.pop("backend", "local")
    return run_policy_search(name, cfg, out, options, progress=False, backend=backend, **kw)


def test_autoaugment_tokens_decode_to_valid_sub_policies():
    c = Controller(torch.Generator().manual_seed(0), token_sizes=AA_TOKEN_SIZES)
    tokens = c.sample(6, torch.Generator().manual_seed(1))
    assert tokens.shape == (6, 30)
    for t in tokens:
        subs = decode_policy(t)
        assert len(subs) == 5 and all(len(s) == 2 for s in subs)
        assert all(0 <= p <= 1 and 0 <= m <= 0.9 for s in subs for _, p, m in s)
        ak.Policy(subs)  # every decoded table is a valid policy
    with pytest.raises(ValueError, match="30 values"):
        decode_policy(torch.full((30,), 16))


def test_ppo_step_raises_the_probability_of_positive_advantage_policies():
    c = Controller(torch.Generator().manual_seed(0), lr=0.01, token_sizes=AA_TOKEN_SIZES)
    tokens = c.sample(8, torch.Generator().manual_seed(2))
    with torch.no_grad():
        old = c.log_prob_entropy(tokens)[0]
    adv = torch.tensor([1.0] * 4 + [-1.0] * 4)
    ppo_step(c, tokens, old, adv, clip=0.2, epochs=3)
    with torch.no_grad():
        new = c.log_prob_entropy(tokens)[0]
    assert (new - old)[:4].mean() > 0 > (new - old)[4:].mean()


def test_fold_split_is_stratified_disjoint_and_seeded():
    y = torch.arange(10).repeat(20)
    m, a = fold_split(y, 0.4, seed=3)
    assert set(m.tolist()).isdisjoint(a.tolist()) and len(m) + len(a) == len(y)
    assert torch.bincount(y[a]).tolist() == [8] * 10
    assert torch.equal(a, fold_split(y, 0.4, seed=3)[1]) and not torch.equal(a, fold_split(y, 0.4, seed=4)[1])


def test_density_matching_prefers_a_policy_that_keeps_the_distribution(tmp_path):
    """A fold model trained on digits: a near-identity policy scores better than a destructive one."""
    pytest.importorskip("optuna", reason="the .[search] extra (CI installs it)")
    out = tmp_path / "faa"
    _search("fast-autoaugment", out, "folds=1,steps=1,candidates=2,top=1,subs=1",
            cfg=TrainConfig(dataset="digits", val=100, epochs=15, threads=1))  # fmt: skip
    from augkit.policy_search.fast_autoaugment import MODEL_FILE, _fold_data
    from augkit.runs import run_model

    cfg = TrainConfig(dataset="digits", val=100, epochs=15, threads=1, strategy="none")
    data = _fold_data(cfg, 0.4, 0)
    model = run_model(cfg, data, torch.Generator().manual_seed(0))
    model.load_state_dict(torch.load(out / "trials" / "fold0" / MODEL_FILE, weights_only=True))
    keep = ak.Policy([[("Rotate", 0.1, 0.1), ("Brightness", 0.1, 0.1)]])
    destroy = ak.Policy([[("Invert", 1.0, 1.0), ("Rotate", 1.0, 1.0)]])
    e_keep = candidate_error(model, keep, data.val_x, data.val_y, 2, 0)
    e_destroy = candidate_error(model, destroy, data.val_x, data.val_y, 2, 0)
    assert e_keep < 0.3 < e_destroy, (e_keep, e_destroy)


def test_randaugment_grid_replays_bit_for_bit_and_resumes(tmp_path, monkeypatch):
    out = tmp_path / "ra"
    summary = _search("randaugment-grid", out, "n=1;2,m=3;9")
    rows = json.loads((out / "search.json").read_text())["trials"]
    assert len(rows) == 4 and summary["spec"] == f"rand-n{summary['best']['n']}-m{summary['best']['m']}"
    best = min(rows, key=lambda r: r["val_error"])
    assert summary["best_val_error"] == best["val_error"]
    for f in ("policy.json", "trials.csv", "best_so_far.png", "policy_gallery.png"):
        assert (out / f).stat().st_size > 0
    # the found policy replays exactly what its child trained with
    replay = build_strategy(f"policy:file={out / 'policy.json'}")
    child = json.loads((out / "trials" / best["name"] / "config.json").read_text())["strategy"]
    assert child == f"policy:file={out / 'policies' / (summary['spec'] + '.json')}"
    x = torch.randint(0, 256, (16, 1, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    assert torch.equal(replay.transform(x, generator=g1), build_strategy(child).transform(x, generator=g2))
    # a rerun trains nothing: every trial.json matches its config
    import augkit.policy_search.trials as trials

    monkeypatch.setattr(trials, "train_run", lambda *a, **k: pytest.fail("a finished trial was re-run"))
    assert _search("randaugment-grid", out, "n=1;2,m=3;9")["best"] == summary["best"]


def test_autoaugment_search_resumes_and_is_seeded(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    _search("autoaugment", a, "iterations=1,batch=2,top=2")  # "killed" after one controller update
    first = (a / "trials" / "it000-child0" / "trial.json").stat().st_mtime_ns
    s = _search("autoaugment", a, "iterations=2,batch=2,top=2")
    assert s["controller_updates"] == 2 and len(s["entropy"]) == 2
    assert (a / "trials" / "it000-child0" / "trial.json").stat().st_mtime_ns == first
    _search("autoaugment", b, "iterations=2,batch=2,top=2")
    assert (a / "policy.json").read_text() == (b / "policy.json").read_text()
    assert len(json.loads((a / "policy.json").read_text())["sub_policies"]) == 10  # top 2 x 5
    with pytest.raises(ValueError, match=r"started with other search options \(batch"):
        _search("autoaugment", a, "iterations=3,batch=3,top=2")


def test_fast_autoaugment_merges_top_policies_and_is_seeded(tmp_path):
    pytest.importorskip("optuna", reason="the .[search] extra (CI installs it)")
    opts = "folds=2,steps=2,candidates=3,top=1,subs=2"
    s = _search("fast-autoaugment", tmp_path / "a", opts)
    _search("fast-autoaugment", tmp_path / "b", opts)
    doc = json.loads((tmp_path / "a" / "policy.json").read_text())
    assert s["kept_policies"] == 4 and len(doc["sub_policies"]) == 8  # 2 folds x 2 steps x 1 x 2 subs
    assert doc == json.loads((tmp_path / "b" / "policy.json").read_text())
    # the search's cost counts the density matching (TPE), not only the fold models
    c = s["cost"]
    assert c["density_matching_cpu_minutes"] > 0 and c["density_matching_wall_minutes"] > 0
    assert c["total_cpu_minutes"] == pytest.approx(c["trial_cpu_minutes"] + c["density_matching_cpu_minutes"])
    again = _search("fast-autoaugment", tmp_path / "a", opts)  # every fold cached: the timing is kept
    assert again["cost"] == c


def test_search_cost_is_unknown_when_a_phase_was_not_timed():
    from augkit.policy_search.common import search_cost

    trials = [{"cpu_seconds": 60.0, "wall_seconds": 90.0}, {"cpu_seconds": 30.0, "wall_seconds": 30.0}]
    c = search_cost(trials, {"tpe": {"cpu_seconds": 30.0, "wall_seconds": 60.0}})
    keys = ("trial_cpu_minutes", "tpe_cpu_minutes", "total_cpu_minutes", "total_wall_minutes")
    assert [c[k] for k in keys] == [1.5, 0.5, 2.0, 3.0]
    old = search_cost(trials, {"tpe": None})
    assert [old[k] for k in keys[:3]] == [1.5, None, None]


def test_ray_backend_gives_the_same_trials_as_local(tmp_path):
    pytest.importorskip("ray", reason="the .[search] extra (CI installs it)")
    _search("randaugment-grid", tmp_path / "local", "n=1,m=3;9")
    _search("randaugment-grid", tmp_path / "ray", "n=1,m=3;9", backend="ray", cpus=2)
    rows = [json.loads((tmp_path / d / "search.json").read_text())["trials"] for d in ("local", "ray")]
    assert [r["val_error"] for r in rows[0]] == [r["val_error"] for r in rows[1]]
    # Fast AutoAugment's TPE through Tune's OptunaSearch proposes what Optuna does in-process
    pytest.importorskip("optuna", reason="the .[search] extra (CI installs it)")
    faa = "folds=1,steps=1,candidates=3,top=1,subs=1"
    _search("fast-autoaugment", tmp_path / "faa-local", faa)
    _search("fast-autoaugment", tmp_path / "faa-ray", faa, backend="ray", cpus=2)
    docs = [json.loads((tmp_path / d / "policy.json").read_text()) for d in ("faa-local", "faa-ray")]
    assert docs[0] == docs[1]


def test_bad_search_input_is_a_named_error(tmp_path, capsys):
    with pytest.raises(ValueError, match="valid keys: n, m, seeds"):
        _search("randaugment-grid", tmp_path / "x", "q=1")
    with pytest.raises(ValueError, match="expected ';'-separated integers"):
        _search("randaugment-grid", tmp_path / "x", "n=")
    with pytest.raises(ValueError, match="needs a validation split"):
        _search("randaugment-grid", tmp_path / "x", "", cfg=TrainConfig(dataset="digits", val=0))
    no_val = TrainConfig(dataset="digits", subset=100, val=0, threads=1)  # TANDA scores nothing on it
    summary = _search("tanda", tmp_path / "t", "iterations=2,batch=4,save_every=1", cfg=no_val)
    assert summary["iterations"] == 2
    with pytest.raises(ValueError, match="unknown; valid: autoaugment"):
        _search("pba-typo", tmp_path / "x", "")
    out = tmp_path / "c"
    _search("randaugment-grid", out, "n=1,m=3")
    (out / "trials" / "n1-m3-seed0" / "trial.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"trial file .*trial.json is corrupt.*delete"):
        _search("randaugment-grid", out, "n=1,m=3")
    rc = main(["search", "randaugment-grid", "--dataset", "digits", "--val", "50", "--options", "m=x",
               "--backend", "local", "--out", str(tmp_path / "cli")])  # fmt: skip
    assert rc == 2 and "option m='x' is invalid" in capsys.readouterr().err


# --- Population Based Augmentation -------------------------------------------------------------


def test_pba_policy_zero_levels_are_the_identity_and_counts_follow_the_paper():
    from augkit.pba import SLOTS, PBAPolicy

    x = torch.randint(0, 256, (4000, 1, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    assert torch.equal(PBAPolicy()(x, generator=torch.Generator().manual_seed(1)), x)
    always = torch.stack([torch.full((SLOTS,), 10), torch.full((SLOTS,), 5)], 1)
    p = PBAPolicy(always)
    counts = p.sample(x, generator=torch.Generator().manual_seed(2)).applied.sum(1).bincount(minlength=3)
    assert torch.allclose(counts.float() / 4000, torch.tensor([0.2, 0.3, 0.5]), atol=0.03)
    g = lambda: torch.Generator().manual_seed(3)  # noqa: E731
    assert torch.equal(p(x, generator=g()), p(x, generator=g()))


def test_pba_explore_stays_in_the_search_space_and_exploit_copies_the_top():
    from augkit.pba import SLOTS, explore
    from augkit.policy_search.pba import exploit_explore

    g = torch.Generator().manual_seed(0)
    prob, mag = torch.randint(0, 11, (SLOTS,), generator=g), torch.randint(0, 10, (SLOTS,), generator=g)
    lv = torch.stack([prob, mag], 1)
    for _ in range(50):
        lv = explore(lv, g)
        assert lv[:, 0].min() >= 0 and lv[:, 0].max() <= 10 and lv[:, 1].min() >= 0 and lv[:, 1].max() <= 9
    levels = [lv.clone() for _ in range(8)]
    donors = exploit_explore([0.1, 0.5, 0.2, 0.9, 0.3, 0.8, 0.4, 0.7], levels, 0.25, 0.2, g)
    assert [d is not None for d in donors] == [False, False, False, True, False, True, False, False]
    assert {donors[3], donors[5]} <= {0, 2}  # the two best members


def test_pba_schedule_file_errors_name_the_file(tmp_path):
    from augkit.pba import read_schedule, write_schedule

    f = tmp_path / "s.json"
    f.write_text('{"type": "policy"}')
    with pytest.raises(ValueError, match=r"s.json: expected an object with type 'pba-schedule'"):
        read_schedule(f)
    with pytest.raises(ValueError, match="levels must be 30"):
        write_schedule(f, [{"epoch": 0, "levels": [[0, 0]] * 29}])
    write_schedule(f, [{"epoch": 1, "levels": [[0, 0]] * 30}])
    with pytest.raises(ValueError, match="epochs must start at 0"):
        read_schedule(f)


def test_pba_search_replays_resumes_and_is_seeded(tmp_path, monkeypatch):
    cfg = TrainConfig(dataset="digits", subset=200, val=100, epochs=4, threads=1)
    a, b = tmp_path / "a", tmp_path / "b"
    s = _search("pba", a, "population=4,interval=2", cfg=cfg)
    _search("pba", b, "population=4,interval=2", cfg=cfg)
    assert (a / "schedule.json").read_text() == (b / "schedule.json").read_text()
    assert s["rounds"] == 2 and len(json.loads((a / "search.json").read_text())["trials"]) == 8
    strategy = build_strategy(s["replay"])  # replays with ordinary training
    assert strategy.name == "pba" and strategy.length == 4 and len(strategy.schedule) >= 1
    (a / "pba_state.pt").unlink()  # as if killed before the state was written: no trial is re-trained
    import augkit.policy_search.pba as pba_search

    monkeypatch.setattr(pba_search, "train_run", lambda *a, **k: pytest.fail("a finished round was re-run"))
    _search("pba", a, "population=4,interval=2", cfg=cfg)
    assert (a / "schedule.json").read_text() == (b / "schedule.json").read_text()


def test_pba_strategy_follows_its_schedule_by_epoch(tmp_path):
    from augkit.pba import write_schedule
    from augkit.strategies.base import Context

    f = tmp_path / "s.json"
    write_schedule(f, [{"epoch": 0, "levels": [[0, 0]] * 30}, {"epoch": 2, "levels": [[10, 9]] * 30}])
    s = build_strategy(f"pba:file={f}")
    ctx = Context(None, torch.device("cpu"), 10, torch.Generator(), 0.0, epochs=4)
    for epoch, p in ((0, 0), (1, 0), (2, 10), (3, 10)):
        ctx.epoch = epoch
        s.on_epoch_start(ctx)
        assert int(s.policy.levels[0, 0]) == p
    stretched = build_strategy(f"pba:file={f},length=4")
    ctx.epochs, ctx.epoch = 8, 3  # epoch 3 of 8 is epoch 1.5 of the 4-epoch schedule
    stretched.on_epoch_start(ctx)
    assert int(stretched.policy.levels[0, 0]) == 0


# --- TANDA -------------------------------------------------------------------------------------


def test_tanda_tfs_are_not_identities_and_sequences_apply_per_image():
    from augkit.tanda import TFS, MeanField, TFSequence

    assert len(TFS) == 39 and all(m > 0 for o, m in TFS if o not in ("AutoContrast", "Equalize", "Invert"))
    mf = MeanField(5, 0.01, 0.0)
    tokens = mf.sample(6, torch.Generator().manual_seed(0))
    assert tokens.shape == (6, 5) and int(tokens.max()) < 39
    lp, ent = mf.log_prob_entropy(tokens)
    assert torch.allclose(lp, torch.full((6,), 5 * -torch.log(torch.tensor(39.0))))
    x = torch.randint(0, 256, (6, 1, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    seq = TFSequence()
    a = seq.apply_sequences(x, tokens, torch.Generator().manual_seed(2))
    b = seq.apply_sequences(x, tokens, torch.Generator().manual_seed(2))
    assert torch.equal(a, b) and not torch.equal(a, x)
    one = seq.apply_sequences(x[2:3], tokens[2:3], torch.Generator().manual_seed(2))
    assert one.shape == (1, 1, 8, 8)


def test_tanda_reinforce_moves_the_generator_towards_rewarded_tfs():
    from augkit.tanda import MeanField

    mf = MeanField(3, 0.05, 0.0)
    g = torch.Generator().manual_seed(0)
    for _ in range(30):
        tokens = mf.sample(64, g)
        reward = (tokens == 7).float().sum(1)  # a "discriminator" that likes TF 7
        lp, _ = mf.log_prob_entropy(tokens)
        loss = -((reward - reward.mean()) * lp).mean()
        mf.optimizer.zero_grad()
        loss.backward()
        mf.optimizer.step()
    assert int(mf.logits.argmax()) == 7


@pytest.mark.parametrize("kind", ["lstm", "mean-field"])
def test_tanda_search_resumes_to_the_same_generator_and_replays(tmp_path, kind):
    opts = f"generator={kind},iterations=20,batch=16,save_every=10"
    cfg = TrainConfig(dataset="digits", subset=200, val=50, threads=1)
    _search("tanda", tmp_path / "a", opts, cfg=cfg)
    half = opts.replace("iterations=20", "iterations=10")
    first = _search("tanda", tmp_path / "b", half, cfg=cfg)  # then "killed"
    s = _search("tanda", tmp_path / "b", opts, cfg=cfg)
    # the cost covers both calls (a resumed or cached call once reported only its own seconds)
    assert s["cost"]["cpu_minutes"] > first["cost"]["cpu_minutes"] > 0
    again = _search("tanda", tmp_path / "b", opts, cfg=cfg)  # finished: nothing trains
    assert again["cost"]["cpu_minutes"] == s["cost"]["cpu_minutes"]
    wa, wb = (torch.load(tmp_path / d / "tanda.pt", weights_only=True)["weights"] for d in ("a", "b"))
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    strategy = build_strategy(s["replay"])
    from augkit.strategies.base import Context

    ctx = Context(None, torch.device("cpu"), 10, torch.Generator().manual_seed(0), 0.0, epochs=1)
    x = torch.randint(0, 256, (4, 1, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    assert strategy.augment(x, ctx).shape == x.shape
    assert (tmp_path / "a" / "policy_gallery.png").stat().st_size > 0
