"""The default Gaussian mixture (conf/data/gmm.yaml) as a denoising problem: its exact Bayes risk against the best
linear denoiser's, per sigma, and how image-like its pixels are.

    python scripts/gmm_risks.py [--sigmas 0.3,0.5,0.7,1.0] [--samples 100000] [data.component_rank=4 ...]

Prints a Markdown table: the Monte Carlo Bayes risk with its standard error, the linear (Wiener) risk (exact), their
ratio, and the risk if the component were known (d s^2 sigma^2 / (s^2 + sigma^2) for isotropic components). Overrides
of data.* (as uvb-train takes them) change the mixture.
"""

import argparse
import sys

from omegaconf import OmegaConf

from uvb_lab.compose import compose_config
from uvb_lab.data.gmm import gmm


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sigmas", default="0.3,0.5,0.7,1.0")
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("overrides", nargs="*", help="data.KEY=VALUE, as uvb-train takes them")
    args = parser.parse_args(argv)
    if bad := [o for o in args.overrides if not o.startswith("data.")]:
        parser.error(f"only data.* overrides change the mixture, got {' '.join(bad)}")
    settings = {k: v for k, v in OmegaConf.to_container(compose_config(["data=gmm", *args.overrides]).data).items() if k != "_target_"}
    data = gmm(**settings)
    mixture = data.ground_truth
    inside = ((data.train >= 0) & (data.train <= 1)).float().mean().item()
    print(f"data=gmm defaults: {settings}; {100 * inside:.3f}% of training pixels in [0, 1]\n")
    print("| σ | Bayes risk (± s.e.) | linear risk | Bayes / linear | risk, component known |")
    print("| --- | --- | --- | --- | --- |")
    for sigma in map(float, args.sigmas.split(",")):
        bayes, se = mixture.bayes_risk_monte_carlo(sigma, n=args.samples, seed=0)
        linear = mixture.linear_risk(sigma)
        known = mixture.known_component_risk(sigma)
        print(f"| {sigma:g} | {bayes:.4f} ± {se:.4f} | {linear:.4f} | {bayes / linear:.3f} | {known:.4f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
