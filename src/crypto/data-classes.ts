/** Personal data is keyed per subject and per class, so one class can be erased while another is kept. */
export const dataClasses = ['contact', 'payment'] as const;

export type DataClass = (typeof dataClasses)[number];
