import math

from analyses.reproduce.report import Section, claims_from_results, write_report

MAE = {
    "vanilla": {"all": 9.3, "many": 7.0, "medium": 12.0, "few": 21.0},
    "sqinv": {"all": 9.1, "many": 7.7, "medium": 10.1, "few": 18.5},
    "sam": {"all": 9.2}, "imbsam": {"all": 9.0},
    "bsam": {"all": 9.2, "many": 7.8, "medium": 10.0, "few": 18.4},
}


def test_claims_follow_the_numbers():
    claims = {c.text: c for c in claims_from_results(MAE, {"sqinv": {"lambda_max": 5.0, "trace": 9.0},
                                                           "bsam": {"lambda_max": 6.0, "trace": 8.0}},
                                                     mae_std={"sqinv": {"few": 0.3}, "bsam": {"few": 0.3}})}
    ratio = next(c for t, c in claims.items() if t.startswith("Vanilla"))
    assert ratio.agrees is True and "3.00" in ratio.ours
    few = next(c for t, c in claims.items() if t.startswith("BSAM lowers few-shot"))
    assert few.agrees is True and few.within_noise  # 0.1 < sqrt(0.3² + 0.3²)
    overall = next(c for t, c in claims.items() if t.startswith("BSAM lowers overall"))
    assert overall.agrees is False and not overall.within_noise
    best = next(c for t, c in claims.items() if t.startswith("Among"))
    assert best.agrees is False  # ImbSAM has the lowest
    lam = next(c for t, c in claims.items() if "λ_max" in t)
    tr = next(c for t, c in claims.items() if "(trace smaller)" in t)
    assert lam.agrees is False and tr.agrees is True


def test_missing_numbers_are_not_measured(tmp_path):
    claims = claims_from_results({"vanilla": {"few": math.nan, "many": 7.0}})
    assert claims[0].agrees is None and "not measured" in claims[0].line()
    path = write_report(tmp_path / "r.md", title="T", setup=[("a", "b", "c")],
                        sections=[Section("S", "text", ["| x |"], ["figures/f.png"])], claims=claims)
    text = path.read_text()
    assert text.startswith("# T") and "## S" in text and "![f](figures/f.png)" in text


def test_claims_carry_their_seed_spread():
    """Each of our numbers reads mean ± std (n = seeds); one seed says n = 1 and has no ±."""
    std = {m: {"all": 0.2, "few": 0.5, "many": 0.1} for m in ("sqinv", "bsam", "sam", "imbsam")}
    claims = claims_from_results(
        MAE, {"sqinv": {"lambda_max": 5.0, "trace": 9.0}, "bsam": {"lambda_max": 6.0, "trace": 8.0}},
        mae_std=std, hessian_std={"sqinv": {"lambda_max": 1.5}, "bsam": {"lambda_max": 0.5}},
        seeds={"vanilla": 1, "sqinv": 3, "sam": 3, "imbsam": 3, "bsam": 3},
    )
    by = {c.text.split(" (")[0] if "flatter" not in c.text else c.text: c for c in claims}
    assert by["Vanilla training is much worse on few-shot than on many-shot ages"].ours == \
        "3.00 (21.00 (n = 1) vs 7.00 (n = 1))"
    assert by["BSAM lowers few-shot MAE compared with SQINV"].ours == \
        "18.40 ± 0.50 (n = 3) vs 18.50 ± 0.50 (n = 3)"
    best = by["Among SQINV+SAM, +ImbSAM and +BSAM, BSAM has the lowest overall MAE"]
    assert best.ours == "sam 9.20 ± 0.20 (n = 3), imbsam 9.00 ± 0.20 (n = 3), bsam 9.20 ± 0.20 (n = 3)"
    # ImbSAM leads SAM and BSAM by 0.2, within their combined spread sqrt(0.2² + 0.2²)
    assert best.agrees is False and best.within_noise
    lam = by["BSAM has a flatter few-shot region than SQINV (λ_max smaller)"]
    assert lam.ours == "6 ± 0.5 (n = 3) vs 5 ± 1.5 (n = 3)" and lam.within_noise


def test_the_sam_control_reads_the_few_shot_curvature_of_sam():
    few = {"sqinv": {"lambda_max": 9.0, "trace": 9.0}, "bsam": {"lambda_max": 5.0, "trace": 8.0},
           "sam": {"lambda_max": 5.5, "trace": 8.5}}
    claims = claims_from_results(MAE, few, hessian_std={"bsam": {"lambda_max": 0.4},
                                                         "sam": {"lambda_max": 0.4}})
    control = next(c for c in claims if c.text.startswith("Control"))
    assert control.agrees is True and control.within_noise  # 0.5 < sqrt(0.4² + 0.4²)
    assert control.paper == "not reported" and control.ours == "5 ± 0.4 vs 5.5 ± 0.4"
    del few["sam"]
    assert not any(c.text.startswith("Control") for c in claims_from_results(MAE, few))
