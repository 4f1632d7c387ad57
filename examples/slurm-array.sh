#!/bin/bash
# A Slurm job array that renders prompts.txt with 8 tasks sharing one output folder.
# Each task takes every 8th prompt line (vqclip batch --shard auto reads SLURM_ARRAY_TASK_ID,
# SLURM_ARRAY_TASK_MIN and SLURM_ARRAY_TASK_COUNT). Re-submitting the same array after a node
# failure skips finished lines and resumes the interrupted ones from their state files.
#
#   sbatch examples/slurm-array.sh
#
#SBATCH --job-name=vqclip
#SBATCH --array=0-7
#SBATCH --cpus-per-task=4
#SBATCH --mem=8G
#SBATCH --time=12:00:00
#SBATCH --output=logs/vqclip-%A_%a.out
set -euo pipefail

# A folder every node sees (NFS, Lustre...), with the models and the results.
SHARED=${SHARED:-$HOME/vqclip-shared}
export VQCLIP_MODELS=$SHARED/models     # vqgan_imagenet_f16_16384.{ckpt,yaml}, ViT-B-32.pt

vqclip batch "$SHARED/prompts.txt" \
  --vqgan vqgan_imagenet_f16_16384 --clip ViT-B-32 \
  --size 256x256 --iterations 300 \
  --threads "$SLURM_CPUS_PER_TASK" \
  --output-dir "$SHARED/outputs" \
  --shard auto --json > "$SHARED/outputs/events-$SLURM_ARRAY_TASK_ID.jsonl"

# The last task to finish leaves a gallery of everything (each task also rewrites it).
vqclip gallery "$SHARED/outputs" > /dev/null
