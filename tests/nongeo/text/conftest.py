"""Set-up of the text tests: the Hugging Face hub stays offline."""

import os

# Never reach the Hugging Face hub (the code also passes local_files_only=True).
os.environ['HF_HUB_OFFLINE'] = '1'
