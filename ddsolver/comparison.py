r"""PDE against SGD: risk curves, densities against neuron histograms, Wasserstein-1.

:func:`compare_files` reads a PDE run and an SGD run of the same problem and returns the
report (a JSON-ready dict); :func:`write_report` also draws the figures.

* Risk at the SGD observation times: R(ρ_t), R(ρ_t) + 1/N correction (interpolated from the
  PDE's finer observation grid), SGD mean, standard deviation, min and max over seeds, and
  the gap SGD mean − corrected PDE.
* Every other observable of both files (coordinate means and quantiles, the committee's
  overlaps): the PDE (or ODE) at the SGD times against the SGD mean and spread.
* With a second PDE run of the same problem solved with ``dynamics.finite_step = true`` (the
  finite-step correction at the SGD's ε and B): the same risk, gap and W1 for it, under
  ``finite_step``, so the plain and the corrected limit stand side by side.
* At snapshot times present in both files (PDE runs with a density): W1 between the PDE
  marginal density of each reduced coordinate and the pooled empirical law of the neurons
  (all seeds), W1 = ∫ |F_PDE(x) − F_SGD(x)| dx, computed exactly for the piecewise-linear
  PDE cdf and the step SGD cdf.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import numpy as np

from . import io
from .config import ConfigError, is_default
from .fields import LAW_OF_A_NAMES, LAW_OF_A_TERMS, NOISE_SWITCHES, resolved_terms

#: Config tables that must agree for a comparison to mean anything.
PROBLEM_TABLES = ("problem", "initial", "dynamics")
TIME_MATCH = 1e-9


def matching_snapshot(limit_times: np.ndarray, t: float, eps: float) -> int | None:
    """The limit's snapshot taken at the SGD snapshot time ``t``, or None.

    SGD stops only after whole steps: a log-spaced save time (``time.spacing = "log"``) is
    rounded to the nearest multiple of ε (:func:`ddsolver.runloop.snapped_to_steps`), so the
    limit's snapshot of the same save lies within ε/2 of it; linear save times agree to
    round-off (:data:`TIME_MATCH`).
    """
    distance = np.abs(limit_times - t)
    k = int(np.argmin(distance)) if distance.size else -1
    if k < 0 or distance[k] > max(TIME_MATCH * max(1.0, t), 0.5 * eps * (1 + 1e-9)):
        return None
    return k


def _flatten(table: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in table.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def _d_infinity_against(pde_config: dict, sgd_config: dict) -> bool:
    """A d = ∞ kernel started from the initial law of the SGD's d (the papers' comparison)."""
    pde_d = str(pde_config["problem"]["dimension"])
    sgd_d = sgd_config["problem"]["dimension"]
    return pde_d == "inf" and pde_config["initial"]["dimension"] == sgd_d


def check_same_problem(pde_config: dict, sgd_config: dict) -> None:
    """Raise ConfigError naming the first key where the two problems differ.

    The one difference allowed: a PDE with the d = ∞ kernel (``problem.dimension = "inf"``)
    started from the initial law of the SGD's dimension (``initial.dimension = d``).
    """
    skip = {"initial.dimension", "dynamics.finite_step"}
    if _d_infinity_against(pde_config, sgd_config):
        skip.add("problem.dimension")
    for table in PROBLEM_TABLES:
        a = _flatten(pde_config.get(table, {}), table + ".")
        b = _flatten(sgd_config.get(table, {}), table + ".")
        for key in sorted(set(a) | set(b)):
            if key in skip or _added_since(key, a, b):
                continue
            if a.get(key) != b.get(key):
                raise ConfigError(
                    key,
                    f"PDE {a.get(key)!r}, SGD {b.get(key)!r}",
                    "the two files describe different problems",
                )


def _added_since(key: str, a: dict, b: dict) -> bool:
    """A key one file's stored config lacks (made before the key existed) and the other holds
    at its default: the two describe the same problem."""
    if (key in a) == (key in b):
        return False
    present = a.get(key, b.get(key))
    try:
        return is_default(key, present)
    except (KeyError, ConfigError):  # not a key of this version's schema
        return False


def wasserstein1(edges: np.ndarray, cell_masses: np.ndarray, samples: np.ndarray) -> float:
    """W1 between a piecewise-constant density (cell masses on ``edges``) and samples."""
    masses = np.asarray(cell_masses, float) / np.sum(cell_masses)
    xs = np.sort(np.asarray(samples, float).ravel())
    nodes = np.union1d(edges, xs)
    nodes = nodes[(nodes >= min(edges[0], xs[0])) & (nodes <= max(edges[-1], xs[-1]))]
    cdf_edges = np.concatenate([[0.0], np.cumsum(masses)])
    f_pde = np.interp(nodes, edges, cdf_edges, left=0.0, right=1.0)
    f_sgd = np.searchsorted(xs, nodes, side="right") / xs.size  # right-continuous step
    total = 0.0
    for i in range(nodes.size - 1):
        h = nodes[i + 1] - nodes[i]
        a = f_pde[i] - f_sgd[i]  # F_SGD is constant on [x_i, x_{i+1})
        b = f_pde[i + 1] - f_sgd[i]
        if a * b >= 0:
            total += 0.5 * h * (abs(a) + abs(b))
        else:  # the linear part crosses the step: two triangles
            total += 0.5 * h * (a * a + b * b) / (abs(a) + abs(b))
    return float(total)


def _check_step(cfg: dict, sgd_config: dict) -> None:
    """A finite-step-corrected limit must be corrected for the SGD's own ε and B."""
    if not cfg.get("dynamics", {}).get("finite_step"):
        return
    for key in ("eps", "batch"):
        if cfg["sgd"][key] != sgd_config["sgd"][key]:
            raise ConfigError(
                f"sgd.{key}",
                f"PDE {cfg['sgd'][key]!r}, SGD {sgd_config['sgd'][key]!r}",
                "the finite-step correction of the PDE run is for another step than the SGD's",
            )


def _limit_against(pde_path, scfg: dict, sobs: dict, ssnap: dict, inside: np.ndarray) -> dict:
    """Risk (with its 1/N term at the SGD's N), gap and W1 of one deterministic limit against
    the SGD run's observables ``sobs`` and snapshots ``ssnap``."""
    pa = io.read_attrs(pde_path)
    if pa.get("kind") != "pde":
        raise ConfigError("FILES", pa.get("kind"), f"{pde_path} is not a PDE file (ddsolver run)")
    pcfg = tomllib.loads(pa["config"])
    check_same_problem(pcfg, scfg)
    _check_step(pcfg, scfg)
    neurons = scfg["sgd"]["neurons"]
    pobs = io.read_series(pde_path, "observables")
    t = sobs["time"][inside]
    pde_risk = np.interp(t, pobs["time"], pobs["risk"])
    scale = pcfg["sgd"]["neurons"] / neurons  # the 1/N terms at the SGD's N

    def at_sgd_width(name: str) -> np.ndarray:
        return pde_risk + (np.interp(t, pobs["time"], pobs[name]) - pde_risk) * scale

    # a mean-field limit has its 1/N term (dynamical C(t)/N where the run computed it); a
    # finite-width limit (committee ODEs) has none
    pde_corrected = at_sgd_width("risk_finite_n") if "risk_finite_n" in pobs else pde_risk
    gap = sobs["risk"][inside].mean(axis=1) - pde_corrected
    psnap = io.read_series(pde_path, "snapshots")
    grid = io.read_grid(pde_path)
    w1: dict[str, list] = {"time": []}
    for k, ts in enumerate(ssnap["time"] if "density" in psnap else ()):
        match = matching_snapshot(psnap["time"], ts, scfg["sgd"]["eps"])
        if match is None:
            continue
        dens = psnap["density"][match]
        w1["time"].append(float(ts))
        cell = dens * io.grid_volumes(grid)
        for axis, name in enumerate(grid):
            marginal = cell.sum(axis=tuple(i for i in range(dens.ndim) if i != axis))
            w1.setdefault(name, []).append(
                wasserstein1(grid[name]["edges"], marginal, ssnap[name][k])
            )
    out = {
        "config": pcfg,
        "attrs": pa,
        "pobs": pobs,
        "psnap": psnap,
        "pde": pde_risk,
        "pde_finite_n": pde_corrected,
        "gap": gap,
        "wasserstein1": w1,
    }
    if "risk_finite_n_iid" in pobs:  # finite_width.dynamical: the i.i.d. term beside C(t)
        out["pde_finite_n_iid"] = at_sgd_width("risk_finite_n_iid")
        out["gap_iid"] = sobs["risk"][inside].mean(axis=1) - out["pde_finite_n_iid"]
    if "risk_predicted" in pobs:  # the step-noise terms: the budget term by term
        out["budget"] = _budget(pcfg, scfg, pobs, t, pde_risk, pde_corrected)
    law_terms = "law_of_a_own" in psnap or "law_of_a_dynamical" in psnap
    if law_terms and "a" in ssnap:  # finite_width.law_of_a: the same, for a
        out["law_of_a"] = _law_of_a(pde_path, pcfg, scfg, psnap, grid, ssnap)
    return out


def _law_of_a(pde_path, pcfg: dict, scfg: dict, psnap: dict, grid: dict, ssnap: dict) -> dict:
    """W1 between SGD's law of a (all seeds pooled) and each cumulative prediction of it — the
    limit's (the grid's a-marginal), + its dynamical 1/N term at the SGD's N (a dynamical
    run), + each step-noise term the run switched on, rescaled to the SGD's ε and B — all
    smoothed by N(0, b²) (:mod:`ddsolver.fluctuations.smoothed_law`), at the snapshot times of
    both files. A prediction is None from the first term that is unresolved there (its error
    estimate above a tenth of its size: ∫|term| for the 1/N term, ∫|own| + ∫|shared| for the
    noise terms)."""
    from .fluctuations.smoothed_law import cdf_of_cells, cdf_of_samples, w1_between

    fw = pcfg["finite_width"]
    b = float(fw.get("law_bandwidth", 0.05))
    x = io.read_series_item(pde_path, "data/law_of_a_x")
    ratios = _term_ratios(pcfg, scfg)
    dynamical = "law_of_a_dynamical" in psnap
    switches = [s for s in NOISE_SWITCHES if fw.get(s)] if "law_of_a_own" in psnap else []
    labels = ["limit", *(["+ 1/N term"] if dynamical else []),
              *(BUDGET_TERMS[s][0] for s in switches)]  # fmt: skip
    out: dict = {"bandwidth": b, "labels": labels, "time": [], "w1": [[] for _ in labels],
                 "sgd_halves": [], "unresolved_from": None}  # fmt: skip
    axis = list(grid).index("a")
    for k, ts in enumerate(ssnap["time"]):
        match = matching_snapshot(psnap["time"], ts, scfg["sgd"]["eps"])
        if match is None:
            continue
        cell = psnap["density"][match] * io.grid_volumes(grid)
        masses = cell.sum(axis=tuple(i for i in range(cell.ndim) if i != axis))
        samples = np.asarray(ssnap["a"][k])  # (seed, neuron)
        sgd = cdf_of_samples(x, b, samples)
        prediction = cdf_of_cells(x, b, grid["a"]["edges"], masses)
        steps, resolved = [], True  # (term, whether every term up to it is resolved)
        if dynamical:
            term = psnap["law_of_a_dynamical"][match] / samples.shape[1]  # at the SGD's N
            error = psnap["law_of_a_dynamical_error"][match] / samples.shape[1]
            resolved = bool(resolved_terms(w1_between(x, term, 0.0), 0.0,
                                           w1_between(x, error, 0.0)))  # fmt: skip
            steps.append((term, resolved))
        if switches:
            terms = {name: psnap[f"law_of_a_{name}"][match] for name in LAW_OF_A_NAMES}
            size = w1_between(x, terms["own"], 0.0) + w1_between(x, terms["shared"], 0.0)
            resolved &= bool(resolved_terms(size, 0.0, w1_between(x, terms["error"], 0.0)))
            steps += [(ratios[s] * terms[LAW_OF_A_TERMS[s]], resolved) for s in switches]
        if not resolved and out["unresolved_from"] is None:
            out["unresolved_from"] = float(ts)
        out["time"].append(float(ts))
        out["w1"][0].append(w1_between(x, prediction, sgd))
        for row, (term, ok) in enumerate(steps, start=1):
            prediction = prediction + term
            out["w1"][row].append(w1_between(x, prediction, sgd) if ok else None)
        half = samples.shape[0] // 2  # the seeds' own scatter: half against half, halved
        out["sgd_halves"].append(
            0.5 * w1_between(x, cdf_of_samples(x, b, samples[:half]),
                             cdf_of_samples(x, b, samples[half:])) if half else None
        )  # fmt: skip
    out["max_w1"] = [_largest(np.array(row, dtype=float)) for row in out["w1"]]
    return out


#: The budget's label of each step-noise switch (:data:`~ddsolver.fields.NOISE_SWITCHES`,
#: added in its order) and whether its term scales with 1/B.
BUDGET_TERMS = {
    "own_noise": ("+ own step noise", True),
    "shared_noise": ("+ shared noise", True),
    "euler_error": ("+ Euler steps", False),
}


def _term_ratios(pcfg: dict, scfg: dict) -> dict[str, float]:
    """Each step-noise switch's factor from the PDE run's ε and B to the SGD's: the noise
    terms are linear in ε/B, the Euler term in ε."""
    eps_ratio = scfg["sgd"]["eps"] / pcfg["sgd"]["eps"]
    noise_ratio = eps_ratio * pcfg["sgd"]["batch"] / scfg["sgd"]["batch"]
    return {s: noise_ratio if per_batch else eps_ratio
            for s, (_, per_batch) in BUDGET_TERMS.items()}  # fmt: skip


def _budget(pcfg: dict, scfg: dict, pobs: dict, t, pde_risk, pde_corrected) -> dict:
    """The cumulative predictions of SGD's mean risk — the limit, + the 1/N term, + each
    step-noise term the run switched on — at the SGD's times, N, ε and B (the noise terms are
    first order: linear in ε/B, the Euler term in ε)."""
    fw = pcfg.get("finite_width", {})
    ratios = _term_ratios(pcfg, scfg)
    at = {name: np.interp(t, pobs["time"], pobs[name])
          for name in ("noise_shared", "noise_own", "noise_error")}  # fmt: skip
    resolved = resolved_terms(at["noise_shared"], at["noise_own"], at["noise_error"])
    labels, predictions = ["limit", "+ 1/N term"], [pde_risk, pde_corrected]
    for switch, name in NOISE_SWITCHES.items():
        if fw.get(switch):
            term = ratios[switch] * np.interp(t, pobs["time"], pobs[name])
            labels.append(BUDGET_TERMS[switch][0])
            predictions.append(np.where(resolved, predictions[-1] + term, np.nan))
    unresolved = t[~resolved]
    return {"labels": labels, "predictions": predictions,
            "resolved_until": float(unresolved[0]) if unresolved.size else None}  # fmt: skip


def compare_files(
    pde_path: str | Path, sgd_path: str | Path, corrected_path: str | Path | None = None
) -> dict:
    """The comparison report of a PDE file and an SGD file (JSON-ready dict); with
    ``corrected_path``, also of the finite-step-corrected PDE run under ``finite_step``."""
    pa, sa = io.read_attrs(pde_path), io.read_attrs(sgd_path)
    if pa.get("kind") != "pde" or sa.get("kind") != "sgd":
        raise ConfigError(
            "FILES",
            f"{pa.get('kind')}, {sa.get('kind')}",
            "expected a PDE file (ddsolver run) then an SGD file (ddsolver sgd)",
        )
    scfg = tomllib.loads(sa["config"])
    sobs = io.read_series(sgd_path, "observables")
    last = io.read_series(pde_path, "observables")["time"][-1]  # SGD's last stop: within ε/2
    inside = sobs["time"] <= last + max(TIME_MATCH, 0.5 * scfg["sgd"]["eps"])
    ssnap = io.read_series(sgd_path, "snapshots")
    limit = _limit_against(pde_path, scfg, sobs, ssnap, inside)
    pcfg = limit["config"]
    neurons = scfg["sgd"]["neurons"]
    t = sobs["time"][inside]
    sgd_risk = sobs["risk"][inside]
    gap = limit["gap"]
    report = {
        "pde_file": str(pde_path),
        "sgd_file": str(sgd_path),
        "neurons": neurons,
        "pde_kernel_dimension": str(pcfg["problem"]["dimension"]),
        "pde_finite_step": bool(pcfg["dynamics"].get("finite_step", False)),
        "eps": scfg["sgd"]["eps"],
        "seeds": scfg["sgd"]["seeds"],
        "risk": {
            "time": t.tolist(),
            "pde": limit["pde"].tolist(),
            "pde_finite_n": limit["pde_finite_n"].tolist(),
            "sgd_mean": sgd_risk.mean(axis=1).tolist(),
            "sgd_std": sgd_risk.std(axis=1, ddof=min(1, sgd_risk.shape[1] - 1)).tolist(),
            "sgd_min": sgd_risk.min(axis=1).tolist(),
            "sgd_max": sgd_risk.max(axis=1).tolist(),
            "gap": gap.tolist(),
        },
        "max_abs_gap": float(np.abs(gap).max()),
        "time_of_max_gap": float(t[np.abs(gap).argmax()]),
        "pde_status": pa.get("status"),
        "sgd_status": sa.get("status"),
    }
    if "gap_iid" in limit:  # the dynamical 1/N term's run: SGD against both 1/N predictions
        report["pde_finite_n_term"] = "dynamical"
        report["risk"]["pde_finite_n_iid"] = limit["pde_finite_n_iid"].tolist()
        report["risk"]["gap_iid"] = limit["gap_iid"].tolist()
        report["max_abs_gap_iid"] = float(np.abs(limit["gap_iid"]).max())
    if "budget" in limit:  # the step-noise terms: SGD against each partial prediction
        mean = sgd_risk.mean(axis=1)
        budget = limit["budget"]
        gaps = [mean - p for p in budget["predictions"]]
        report["budget"] = {
            "labels": budget["labels"],
            "predictions": [_json_floats(p) for p in budget["predictions"]],
            "gaps": [_json_floats(g) for g in gaps],
            "max_abs_gaps": [_largest(g) for g in gaps],
            "unresolved_from": budget["resolved_until"],
        }
    if "law_of_a" in limit:  # finite_width.law_of_a: SGD's law of a against each prediction
        report["law_of_a"] = limit["law_of_a"]
    report["observables"] = shared_observables(limit["pobs"], sobs, inside)
    psnap = limit["psnap"]
    if "particles" in psnap and "particles" in ssnap:
        report["energy_distance"] = particle_distances(psnap, ssnap, scfg["sgd"]["eps"])
    w1 = limit["wasserstein1"]
    report["wasserstein1"] = w1
    report["max_wasserstein1"] = _max_w1(w1)
    if corrected_path is not None:
        other = _limit_against(corrected_path, scfg, sobs, ssnap, inside)
        if not other["config"]["dynamics"].get("finite_step"):
            raise ConfigError(
                "dynamics.finite_step",
                False,
                f"{corrected_path} (--corrected) must be a run with dynamics.finite_step = true",
            )
        cgap = other["gap"]
        report["finite_step"] = {
            "pde_file": str(corrected_path),
            "pde_status": other["attrs"].get("status"),
            "risk": {
                "pde": other["pde"].tolist(),
                "pde_finite_n": other["pde_finite_n"].tolist(),
                "gap": cgap.tolist(),
            },
            "max_abs_gap": float(np.abs(cgap).max()),
            "time_of_max_gap": float(t[np.abs(cgap).argmax()]),
            "wasserstein1": other["wasserstein1"],
            "max_wasserstein1": _max_w1(other["wasserstein1"]),
        }
    return report


def _max_w1(w1: dict) -> dict:
    return {n: float(max(v)) for n, v in w1.items() if n != "time" and v}


def energy_distance(p: np.ndarray, wp: np.ndarray, q: np.ndarray, wq: np.ndarray) -> float:
    """2 E|X − Y| − E|X − X'| − E|Y − Y'| for weighted point sets p (M, D), q (m, D) with
    weights wp, wq (each summing to 1): ≥ 0, and 0 only for equal measures."""

    def mean_distance(a, wa, b, wb):
        total = 0.0
        for start in range(0, len(a), 256):  # blocks keep the distance matrix small
            block = np.linalg.norm(a[start : start + 256, None, :] - b[None, :, :], axis=2)
            total += wa[start : start + 256] @ block @ wb
        return total

    cross = mean_distance(p, wp, q, wq)
    return float(2 * cross - mean_distance(p, wp, p, wp) - mean_distance(q, wq, q, wq))


def particle_distances(psnap: dict, ssnap: dict, eps: float) -> dict:
    """The energy distance between the flow's weighted particles and each seed's neurons at
    the snapshot times both files have (:func:`matching_snapshot`; ``eps``: the SGD step):
    per seed and the mean over seeds."""
    out: dict[str, list] = {"time": [], "values": [], "per_seed": []}
    for k, ts in enumerate(ssnap["time"]):
        match = matching_snapshot(psnap["time"], ts, eps)
        if match is None:
            continue
        p = psnap["particles"][match]
        wp = psnap["masses"][match] if "masses" in psnap else np.full(len(p), 1 / len(p))
        seeds = [
            energy_distance(p, wp, q, np.full(len(q), 1 / len(q))) for q in ssnap["particles"][k]
        ]
        out["time"].append(float(ts))
        out["per_seed"].append(seeds)
        out["values"].append(float(np.mean(seeds)))
    return out


#: Observables that the risk section covers, or that are the stepper's own.
NOT_SHARED = ("time", "dt", "risk", "risk_finite_n", "risk_finite_n_iid")


def shared_observables(pobs: dict, sobs: dict, inside: np.ndarray) -> dict:
    """Every other observable both files have (coordinate means and quantiles; the committee's
    overlaps Q, R, v): the deterministic limit at the SGD times against the SGD mean over seeds.
    """
    t = sobs["time"][inside]
    out = {}
    for name in sorted(set(pobs) & set(sobs)):
        if name in NOT_SHARED:
            continue
        limit = np.interp(t, pobs["time"], pobs[name])
        values = sobs[name][inside]
        mean = values.mean(axis=1)
        out[name] = {
            "pde": limit.tolist(),
            "sgd_mean": mean.tolist(),
            "sgd_std": values.std(axis=1, ddof=min(1, values.shape[1] - 1)).tolist(),
            "max_abs_gap": float(np.abs(mean - limit).max()) if t.size else float("nan"),
        }
    return out


def _json_safe(value):
    """The report with every non-finite number as null (JSON has no NaN; a failed run has)."""
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def summary_lines(report: dict) -> list[str]:
    """A one-screen summary of a comparison report: what was compared, the largest gap
    between the limit's objective and the trained networks' mean and when, the largest W1 of
    each coordinate, the same for a finite-step-corrected run, and with the step-noise terms
    the largest gap to each cumulative prediction of the budget."""
    seeds = report["seeds"]
    times = report["risk"]["time"]
    lines = [
        f"{report['pde_file']} ({report['pde_status']}) against {report['sgd_file']} "
        f"({report['sgd_status']}): N = {report['neurons']}, ε = {report['eps']:g}, "
        f"{len(seeds)} seed{'s' if len(seeds) != 1 else ''}, {len(times)} common times"
        + (f" in [{times[0]:g}, {times[-1]:g}]" if times else ""),
        f"largest |mean SGD − limit| = {_num(report['max_abs_gap'])} at t = "
        f"{_num(report['time_of_max_gap'])}",
    ]
    w1 = report.get("max_wasserstein1") or {}
    if w1:
        lines.append("largest W1: " + ", ".join(f"{k} {_num(v)}" for k, v in w1.items()))
    step = report.get("finite_step")
    if step:
        w1_step = step.get("max_wasserstein1") or {}
        lines.append(
            f"finite-step PDE: largest gap {_num(step['max_abs_gap'])} at t = "
            f"{_num(step['time_of_max_gap'])}"
            + ("; largest W1: " + ", ".join(f"{k} {_num(v)}" for k, v in w1_step.items()))
            * bool(w1_step)
        )
    budget = report.get("budget")
    if budget:  # the step-noise terms: SGD against each cumulative prediction
        lines.append(
            "largest |mean SGD − prediction|: "
            + ", ".join(
                f"{label} {_num(gap)}"
                for label, gap in zip(budget["labels"], budget["max_abs_gaps"], strict=True)
            )
        )
        if budget.get("unresolved_from") is not None:
            lines[-1] += f" (the noise terms unresolved from t = {_num(budget['unresolved_from'])})"
    law = report.get("law_of_a")
    if law and law["time"]:  # the law of a against each cumulative prediction
        lines.append(
            f"largest W1 of the law of a (smoothed, b = {law['bandwidth']:g}): "
            + ", ".join(f"{label} {_num(w)}"
                        for label, w in zip(law["labels"], law["max_w1"], strict=True))
        )  # fmt: skip
        if law.get("unresolved_from") is not None:
            lines[-1] += f" (its terms unresolved from t = {_num(law['unresolved_from'])})"
    return lines


def _largest(gaps: np.ndarray) -> float | None:
    """max |gap| over the times where the prediction exists (None where it never does)."""
    finite = np.abs(gaps[np.isfinite(gaps)])
    return float(finite.max()) if finite.size else None


def _json_floats(values: np.ndarray) -> list:
    """A series as a JSON list, NaN (an unresolved prediction) as None."""
    return [float(v) if np.isfinite(v) else None for v in np.asarray(values, dtype=float)]


def _num(value) -> str:
    """A report's number for the summary (None: JSON's stand-in for NaN, e.g. a failed run)."""
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "n/a"
    return f"{value:.4g}"


def write_report(
    pde_path: str | Path,
    sgd_path: str | Path,
    out_dir: str | Path,
    corrected_path: str | Path | None = None,
    save_as=None,
) -> list[Path]:
    """Write report.json and the figures into ``out_dir``; returns the files written.

    ``save_as``: a :class:`ddsolver.plotting.SaveAs` (format and dpi; png at 120 dpi if None).
    """
    from .plotting import PNG, comparison_figures

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    report = compare_files(pde_path, sgd_path, corrected_path)
    target = out_dir / "report.json"
    target.write_text(json.dumps(_json_safe(report), indent=1, allow_nan=False))
    return [target, *comparison_figures(pde_path, sgd_path, report, out_dir, save_as or PNG)]
