#!/usr/bin/env bash
# Regenerates docs/results/bayes_gap_tuned/ (with --publish): +experiment=bayes_gap_tuned (UVB, DEEN and DEEN with a
# quadratic term on data=gmm at sigma 0.3 and 1.0, each tuned over the same learning rates on a validation split by
# successive halving, then 3 fresh seeds of each choice scored once on the paired test noise), with
# hydra.sweeper.exhaustive=true: the whole grid is also trained to the full budget, last, to measure halving against it
# (halving_vs_exhaustive.md).
#   scripts/bayes_gap_tuned.sh                  # two jobs at a time (joblib), one per CPU core, in ./multirun/bayes_gap_tuned
#   JOBS=1 scripts/bayes_gap_tuned.sh           # one at a time
#   scripts/bayes_gap_tuned.sh --publish        # ... and its small files into docs/results/bayes_gap_tuned/
# A relaunch launches only what protocol.json lacks. Extra arguments are passed to uvb-train (scripts/tune_then_test.sh).
exec "$(dirname "$0")/tune_then_test.sh" bayes_gap_tuned hydra.sweeper.exhaustive=true "$@"
