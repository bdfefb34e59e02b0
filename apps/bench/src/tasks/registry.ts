import { ConfigError } from '@tsd-peft/core';
import { customTask } from './custom-jsonl.js';
import { shakespeareTask, tinyStoriesRetentionTask } from './shakespeare.js';
import { sst2Task } from './sst2.js';
import { additionTask, reversalTask } from './synthetic.js';
import { TASK_NAMES, type TaskDefinition, type TaskName } from './types.js';

/** Every built-in task by name. */
export const TASKS: Readonly<Record<TaskName, TaskDefinition>> = {
  shakespeare: shakespeareTask,
  'tinystories-retention': tinyStoriesRetentionTask,
  sst2: sst2Task,
  addition: additionTask,
  reversal: reversalTask,
  custom: customTask,
};

/** True when `name` is a task name. */
export function isTaskName(name: string): name is TaskName {
  return (TASK_NAMES as readonly string[]).includes(name);
}

/** The task called `name`; throws {@link ConfigError} listing the valid names otherwise. */
export function getTask(name: string): TaskDefinition {
  if (!isTaskName(name)) throw new ConfigError(`unknown task "${name}" (expected one of: ${TASK_NAMES.join(', ')})`);
  return TASKS[name];
}
