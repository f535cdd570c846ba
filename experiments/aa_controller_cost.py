"""CPU cost of the AutoAugment search's controller (6 updates of 8 samples, PPO 4 epochs): the part of the
search that search.json does not time (its cost counts the child models).

    python experiments/aa_controller_cost.py
"""

import time

import torch

from augkit.adversarial.controller import Controller
from augkit.policy_search.autoaugment import AA_TOKEN_SIZES, ppo_step

torch.set_num_threads(1)
gen = torch.Generator().manual_seed(0)
c = Controller(gen, lr=0.00035, entropy_weight=1e-5, token_sizes=AA_TOKEN_SIZES)
c0 = time.process_time()
for _ in range(6):
    tokens = c.sample(8, gen)
    with torch.no_grad():
        old = c.log_prob_entropy(tokens)[0]
    ppo_step(c, tokens, old, torch.randn(8, generator=gen), 0.2, 4)
print("6 controller updates (sample 8 + PPO 4 epochs): %.2f CPU-s" % (time.process_time() - c0))
