// The JavaScript example of the API reference this platform implements, as written there, with only the ids
// (dataset, base model) and sizes (epochs, batch size, workers, poll interval) changed to fit the local
// platform. Run it with TENSORONE_API_KEY, TENSORONE_BASE_URL, DATASET_ID and BASE_MODEL set
// (`npm run build` first); see README.md.
import { TensorOneClient } from '@tensorone/sdk';

const apiKey = process.env.TENSORONE_API_KEY;
const client = new TensorOneClient({ apiKey });

let job = await client.training.jobs.create({
  name: 'llama-fine-tuning',
  modelType: 'llm',
  datasetId: process.env.DATASET_ID,
  config: {
    baseModel: process.env.BASE_MODEL,
    strategy: 'lora',
    parameters: {
      rank: 8,
      alpha: 16,
      dropout: 0.1,
      targetModules: ['q_proj', 'v_proj']
    },
    training: {
      epochs: 1,
      batchSize: 4,
      learningRate: 0.0002,
      weightDecay: 0.01
    }
  },
  gpuType: 'a100',
  maxWorkers: 1
});

console.log(`Job created: ${job.id}`);

// Monitor progress
while (['pending', 'running'].includes(job.status)) {
  await new Promise(resolve => setTimeout(resolve, 2000));
  job = await client.training.jobs.get(job.id);
  console.log(`Progress: ${job.progress.percentage}%`);
  console.log(`Current loss: ${job.metrics.currentLoss}`);
}

console.log(`Job finished with status: ${job.status}`);
