// Writes schema/registration-request.schema.json from the zod schema (npm run schema).
import { writeFile } from 'node:fs/promises';
import { registrationRequestJsonSchema } from '../src/lib/registration/json-schema.ts';

await writeFile(
  new URL('../schema/registration-request.schema.json', import.meta.url),
  `${JSON.stringify(registrationRequestJsonSchema(), null, 2)}\n`,
);
