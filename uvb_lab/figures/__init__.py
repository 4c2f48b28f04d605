"""Figures of trained runs, apart from the maths: what to draw and the tools to draw it.

    paper_figures   Figs. 2-4 and the VAE-failure figure of one model, and their numbers (make_figures)
    after_training  the end-of-training hook of uvb-train: the figures into the run folder and the tracker
    cli             `uvb-figures RUN_DIR`: rebuild a run's model from its folder and draw it
    mixing          how many classes walk-jump chains visit, as labelled by the classifier
    classifier      the small ConvNet that labels jump samples, trained once per dataset and cached
    image_grid      rows of images into one titled PNG
"""

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """The `uvb-figures` entry point (pyproject.toml), stable across the files' moves: uvb_lab/figures/cli.py."""
    # Imported here, not at the top: a module of this package (paper_figures, which trained_run.py reads FiguresError
    # from; after_training, which the training loop imports) would otherwise load the CLI, and with it trained_run.py
    # again, half-initialised when it is the first one imported (uvb_lab.load_run(..., model=True) in a fresh Python).
    from uvb_lab.figures import cli

    return cli.main(argv)
