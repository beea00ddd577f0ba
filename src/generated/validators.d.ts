// Types for validators.js, which scripts/compile-schemas.mjs generates from schemas/.

export interface ValidationError {
  instancePath: string;
  schemaPath?: string;
  message?: string;
  keyword: string;
  params: unknown;
  propertyName?: string;
}

export type Validator = ((data: unknown) => boolean) & { errors?: ValidationError[] | null };

export const validateRuntimeConfig: Validator;
export const validateImageManifest: Validator;
export const validateImageIndex: Validator;
export const validateImageConfig: Validator;
export const validateDescriptor: Validator;
export const validateImageLayout: Validator;

/** Schema `title` of each `pattern`, for readable messages. */
export const patternTitles: Record<string, string>;
