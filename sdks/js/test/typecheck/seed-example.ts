// Compiled (not run) by `npm run typecheck`: the seed's example, typed, must compile against the published
// declarations — shape A's create gives a Job with progress and metrics, shape B's the compact response, and
// the error classes narrow with instanceof.
import {
  ConfigurationError,
  TensorOneClient,
  type CompactCreateResponse,
  type Job,
  type JobSummary,
} from '@tensorone/sdk';

export async function seedExample(apiKey: string, datasetId: string): Promise<string> {
  const client = new TensorOneClient({ apiKey });
  let job: Job = await client.training.jobs.create({
    name: 'llama-fine-tuning',
    modelType: 'llm',
    datasetId,
    config: {
      baseModel: 'meta-llama/Llama-2-7b-hf',
      strategy: 'lora',
      parameters: { rank: 16, alpha: 32, dropout: 0.1, targetModules: ['q_proj', 'v_proj'] },
      training: { epochs: 3, batchSize: 4, learningRate: 2e-4, weightDecay: 0.01 },
    },
    gpuType: 'a100',
    maxWorkers: 2,
  });
  while (['pending', 'running'].includes(job.status)) {
    job = await client.training.jobs.get(job.id);
    const percentage: number | undefined = job.progress.percentage;
    const loss: number | null | undefined = job.metrics.currentLoss;
    console.log(percentage, loss);
  }
  return job.status;
}

export async function compactAndErrors(client: TensorOneClient): Promise<void> {
  const compact: CompactCreateResponse = await client.training.jobs.create({
    name: 'gpt2-finetune',
    framework: 'pytorch',
    modelConfig: { modelType: 'language_model', baseModel: 'gpt2' },
    datasetConfig: { datasetId: 'ds_0123456789abcdef' },
  });
  console.log(compact.jobId, compact.estimatedCost.totalCost);
  for await (const summary of client.training.jobs.listAll({ status: 'running', limit: 10 })) {
    const s: JobSummary = summary;
    console.log(s.id);
  }
  try {
    await client.training.jobs.get('job_0000000000000000');
  } catch (error) {
    if (error instanceof ConfigurationError) console.log(error.field, error.reason, error.details, error.status);
  }
}
