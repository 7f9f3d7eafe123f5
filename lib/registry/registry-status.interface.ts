/** Registration state of this app. */
export type RegistryStatus = 'registering' | 'registered' | 'lost' | 'deregistered';
