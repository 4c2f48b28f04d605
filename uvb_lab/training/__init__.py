"""Training one run: a config built into objects (build.py), the loop on plain values (loop.py), one optimizer update
(train_step.py), the learning rate (lr_schedule.py), where the numbers go (recorder.py) and what a non-finite step
does (nonfinite.py). Hydra stays at the edge: only build.py reads a config."""
