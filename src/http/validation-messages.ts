import { z } from 'zod';

/*
 * Zod's wording for a value that is missing is "Invalid input: expected string, received undefined";
 * a problem+json answer says "is required" instead. Zod's configuration is per process: this module
 * sets it when the app module is loaded (src/app.ts imports it).
 */
z.config({
  customError: (issue) =>
    issue.code === 'invalid_type' && issue.input === undefined ? 'is required' : undefined,
});
