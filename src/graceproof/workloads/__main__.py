"""`python -m graceproof.workloads`: regenerate the sample workload's example manifests."""

import sys

from graceproof.workloads.sample_examples import main

sys.exit(main())
